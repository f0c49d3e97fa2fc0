"""Search: a VPC, the OpenSearch domain in its private subnets, Firehose #2 delivering into it,
the in-VPC set-up of the domain, and an SSM-only tunnel host for OpenSearch Dashboards."""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.delivery import (
    allow_kinesis_source,
    allow_logging,
    allow_s3_delivery,
    firehose_role,
    kinesis_delivery_stream,
    lambda_processing,
    validator_function,
)
from cdk_app.ingest import StreamConsumerProps
from cdk_app.lambda_code import lambda_module
from cdk_app.secure_defaults import (
    LOG_STREAMS,
    ROOT,
    acknowledge,
    acknowledge_provider_framework,
    acknowledge_wildcards,
    log_group,
    python_function,
    search_log_policy_name,
)
from cdk_app.storage import ERRORS_PREFIX

SEARCH_BACKUP_PREFIX = ERRORS_PREFIX + "search/"
SEARCH_RETRY_SECONDS = 300
TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"
MASTER_USER = "admin"
# OpenSearch Dashboards saved objects, read at synth time and passed to the set-up as a property
# (a string: CloudFormation would turn numbers in nested properties into strings).
SAVED_OBJECTS = ROOT / "dashboards" / "opensearch" / "saved-objects.ndjson"
# The search document id rule, as the set-up function installs it (its ingest pipeline).
DOCUMENT_ID: str = lambda_module("search_setup", "search_setup.document_id").DOCUMENT_ID
LOG_STREAMS_ONLY = "Writes only to its own log group (its Arn ends in :*, its log streams)."


class Search(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: StreamConsumerProps) -> None:
        super().__init__(scope, construct_id)
        settings, stream, bucket = props.settings, props.stream, props.bucket
        stack = Stack.of(self)
        zones = 2 if settings.search_instance_count > 1 else 1

        flow_logs = log_group(self, "VpcFlowLogs", settings.log_retention_days)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        # No NAT, no internet: AWS APIs through endpoints only, and only those something in the
        # VPC calls: Secrets Manager for the set-up function, Session Manager's three for the
        # tunnel host. Each bills per hour in each of its zones (interfaceEndpointZones).
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        endpoints = {"SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER}
        if settings.dashboards_bastion:
            endpoints |= {
                "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
                "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
                "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
            }
        endpoint_subnets = self.vpc.isolated_subnets[: settings.interface_endpoint_zones]
        for name, service in endpoints.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                subnets=ec2.SubnetSelection(subnets=endpoint_subnets),
            )
        subnets = self.vpc.isolated_subnets[:zones]
        subnet_ids = [subnet.subnet_id for subnet in subnets]

        self.domain_sg = ec2.SecurityGroup(
            self,
            "DomainSg",
            vpc=self.vpc,
            description="OpenSearch domain - HTTPS from its clients only",
            allow_all_outbound=False,
        )
        self.client_sg = ec2.SecurityGroup(
            self,
            "ClientSg",
            vpc=self.vpc,
            description="Clients of the OpenSearch domain - Firehose, set-up, tunnel",
            allow_all_outbound=True,
        )
        self.domain_sg.add_ingress_rule(
            self.client_sg, ec2.Port.tcp(443), "HTTPS from the domain's clients only"
        )

        self.master_secret = secretsmanager.Secret(
            self,
            "MasterUser",
            description="OpenSearch fine-grained access control master user (break-glass)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=f'{{"username": "{MASTER_USER}"}}',
                generate_string_key="password",
                password_length=32,
                require_each_included_type=True,
                exclude_characters="\"'\\/@ ",
            ),
        )
        acknowledge(
            self.master_secret,
            "AwsSolutions-SMG4",
            "The fine-grained access control master password is a break-glass credential "
            "used by the in-VPC set-up and by people opening Dashboards; OpenSearch keeps its own "
            "copy, so a rotation Lambda would also have to call the domain's security API.",
        )

        self.role = firehose_role(self, "Role", "Delivers readings from Kinesis to OpenSearch")
        self.setup_fn = python_function(
            self,
            "Setup",
            folder="search_setup",
            description="Sets up OpenSearch: role mapping, index template, ISM, dashboards",
            environment={},
            timeout=Duration.minutes(5),
            settings=settings,
            vpc_props={
                "vpc": self.vpc,
                "vpc_subnets": ec2.SubnetSelection(subnets=subnets),
                "security_groups": [self.client_sg],
            },
        )
        self.master_secret.grant_read(self.setup_fn)

        domain_logs = {
            kind: log_group(
                self, f"Domain{kind.title().replace('_', '')}Logs", settings.log_retention_days
            )
            for kind in ("SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS")
        }
        log_policy = logs.CfnResourcePolicy(
            self,
            "DomainLogsPolicy",
            policy_name=search_log_policy_name(stack.stack_name),
            policy_document=stack.to_json_string(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "es.amazonaws.com"},
                            "Action": ["logs:PutLogEvents", "logs:CreateLogStream"],
                            # Arn already ends in ":*": the group's log streams.
                            "Resource": [g.log_group_arn for g in domain_logs.values()],
                            "Condition": {"StringEquals": {"aws:SourceAccount": stack.account}},
                        }
                    ],
                }
            ),
        )
        domain_arn = f"arn:{stack.partition}:es:{stack.region}:{stack.account}:domain/*"
        self.domain = opensearch.CfnDomain(
            self,
            "Domain",
            engine_version=settings.search_engine_version,
            cluster_config=opensearch.CfnDomain.ClusterConfigProperty(
                instance_type=settings.search_instance_type,
                instance_count=settings.search_instance_count,
                zone_awareness_enabled=zones > 1,
                zone_awareness_config=(
                    opensearch.CfnDomain.ZoneAwarenessConfigProperty(availability_zone_count=2)
                    if zones > 1
                    else None
                ),
                multi_az_with_standby_enabled=False,
                dedicated_master_enabled=False,
            ),
            ebs_options=opensearch.CfnDomain.EBSOptionsProperty(
                ebs_enabled=True, volume_size=settings.search_volume_gib, volume_type="gp3"
            ),
            vpc_options=opensearch.CfnDomain.VPCOptionsProperty(
                subnet_ids=subnet_ids, security_group_ids=[self.domain_sg.security_group_id]
            ),
            encryption_at_rest_options=opensearch.CfnDomain.EncryptionAtRestOptionsProperty(
                enabled=True
            ),
            node_to_node_encryption_options=opensearch.CfnDomain.NodeToNodeEncryptionOptionsProperty(
                enabled=True
            ),
            domain_endpoint_options=opensearch.CfnDomain.DomainEndpointOptionsProperty(
                enforce_https=True, tls_security_policy=TLS_POLICY
            ),
            advanced_security_options=opensearch.CfnDomain.AdvancedSecurityOptionsInputProperty(
                enabled=True,
                internal_user_database_enabled=True,
                master_user_options=opensearch.CfnDomain.MasterUserOptionsProperty(
                    master_user_name=MASTER_USER,
                    master_user_password=self.master_secret.secret_value_from_json(
                        "password"
                    ).unsafe_unwrap(),
                ),
            ),
            log_publishing_options={
                kind: opensearch.CfnDomain.LogPublishingOptionProperty(
                    enabled=True, cloud_watch_logs_log_group_arn=group.log_group_arn
                )
                for kind, group in domain_logs.items()
            },
            # Fine-grained access control is the gate (dashboards/README.md, "Access model"):
            # the domain is reachable only inside its VPC, from the client security group, and
            # every request is authenticated by FGAC (the master user's basic auth, or a SigV4
            # signature whose IAM role is mapped to a backend role). An access policy naming IAM
            # principals would require every request to be SigV4-signed, which the set-up's and
            # the Dashboards login's basic auth are not: they would get HTTP 403.
            access_policies={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["es:ESHttp*"],
                        "Resource": domain_arn,
                    }
                ],
            },
        )
        self.domain.apply_removal_policy(RemovalPolicy.DESTROY)
        self.domain.node.add_dependency(log_policy)
        self.domain_endpoint = self.domain.attr_domain_endpoint

        # Firehose #2: Kinesis -> validator (drop invalid; #1 records them) -> OpenSearch.
        self.validator = validator_function(
            self,
            "Validator",
            settings,
            output_format="search-documents",
            invalid_records="drop",
            error_bucket=bucket,
        )
        self.logs = log_group(self, "DeliveryLogs", settings.log_retention_days)
        self.log_stream = logs.LogStream(
            self, "SearchDelivery", log_group=self.logs, removal_policy=RemovalPolicy.DESTROY
        )
        self.backup_log_stream = logs.LogStream(
            self, "BackupDelivery", log_group=self.logs, removal_policy=RemovalPolicy.DESTROY
        )
        allow_kinesis_source(self.role, stream)
        allow_s3_delivery(self.role, bucket, [SEARCH_BACKUP_PREFIX])
        allow_logging(self.role, self.logs)
        self.validator.grant_invoke(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "es:DescribeDomain",
                    "es:DescribeDomains",
                    "es:DescribeDomainConfig",
                    "es:ESHttpGet",
                    "es:ESHttpPost",
                    "es:ESHttpPut",
                ],
                resources=[self.domain.attr_arn, f"{self.domain.attr_arn}/*"],
            )
        )
        # Firehose creates its own network interfaces in the VPC; these actions take no resource.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:DescribeVpcs",
                    "ec2:DescribeVpcAttribute",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                ],
                resources=["*"],
            )
        )
        self.delivery_stream = kinesis_delivery_stream(
            self,
            "ToOpenSearch",
            stream,
            self.role,
            amazonopensearchservice_destination_configuration=firehose.CfnDeliveryStream.AmazonopensearchserviceDestinationConfigurationProperty(
                domain_arn=self.domain.attr_arn,
                index_name=settings.search_index_name,
                index_rotation_period=settings.search_index_rotation,
                role_arn=self.role.role_arn,
                buffering_hints=firehose.CfnDeliveryStream.AmazonopensearchserviceBufferingHintsProperty(
                    interval_in_seconds=settings.search_buffer_seconds,
                    size_in_m_bs=settings.search_buffer_mib,
                ),
                retry_options=firehose.CfnDeliveryStream.AmazonopensearchserviceRetryOptionsProperty(
                    duration_in_seconds=SEARCH_RETRY_SECONDS
                ),
                s3_backup_mode="FailedDocumentsOnly",
                s3_configuration=firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                    bucket_arn=bucket.bucket_arn,
                    role_arn=self.role.role_arn,
                    prefix=SEARCH_BACKUP_PREFIX,
                    error_output_prefix=SEARCH_BACKUP_PREFIX + "!{firehose:error-output-type}/",
                    compression_format="GZIP",
                    cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                        enabled=True,
                        log_group_name=self.logs.log_group_name,
                        log_stream_name=self.backup_log_stream.log_stream_name,
                    ),
                ),
                processing_configuration=lambda_processing(self.validator),
                # Firehose's own id (stable across its retries) goes with each `index` action;
                # the domain's default pipeline replaces it with `<device_id>:<seq>` (set-up).
                # Kept rather than NO_DOCUMENT_ID: that saves work only for ids the domain
                # generates, which the pipeline does not use, and FIREHOSE_DEFAULT's failed
                # document records name the id that was sent.
                document_id_options=firehose.CfnDeliveryStream.DocumentIdOptionsProperty(
                    default_document_id_format="FIREHOSE_DEFAULT"
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.logs.log_group_name,
                    log_stream_name=self.log_stream.log_stream_name,
                ),
                vpc_configuration=firehose.CfnDeliveryStream.VpcConfigurationProperty(
                    role_arn=self.role.role_arn,
                    subnet_ids=subnet_ids,
                    security_group_ids=[self.client_sg.security_group_id],
                ),
            ),
        )

        # In-VPC set-up: map the Firehose role to a writer role, install the document id pipeline,
        # the index template, the ISM retention policy and the Dashboards saved objects.
        provider = cr.Provider(
            self,
            "SetupProvider",
            on_event_handler=self.setup_fn,
            log_group=log_group(self, "SetupProviderLogs", settings.log_retention_days),
        )
        self.setup = CustomResource(
            self,
            "DomainSetup",
            service_token=provider.service_token,
            resource_type="Custom::OpenSearchSetup",
            properties={
                "DomainEndpoint": self.domain_endpoint,
                "MasterSecretArn": self.master_secret.secret_arn,
                "IndexName": settings.search_index_name,
                "WriterRoleArns": [self.role.role_arn],
                "RetentionDays": settings.search_index_retention_days,
                "SavedObjects": SAVED_OBJECTS.read_text(encoding="utf-8"),
                # Not read by the function (its code holds the rule): a change of the rule changes
                # the resource's properties, so CloudFormation runs the set-up again, which a
                # change of the function's code alone would not do.
                "DocumentId": DOCUMENT_ID,
            },
        )
        # Documents may arrive only once the writer role is mapped.
        self.delivery_stream.node.add_dependency(self.setup)

        self.tunnel: ec2.BastionHostLinux | None = None
        if settings.dashboards_bastion:
            self.tunnel = self._dashboards_tunnel(subnets)
        self._acknowledge(provider)

    def _acknowledge(self, provider: cr.Provider) -> None:
        """Each accepted cdk-nag finding of this construct, with its reason."""
        acknowledge(
            self.vpc,
            "AwsSolutions-EC23",
            "Interface endpoint security groups admit HTTPS from the VPC's own CIDR only; the "
            "rule cannot be evaluated because the CIDR is a CloudFormation reference.",
        )
        acknowledge(
            self.domain,
            "AwsSolutions-OS3",
            "The domain is inside a VPC with no internet path; only the clients' security group "
            "may reach port 443. IP allow-lists do not apply to VPC domains.",
        )
        acknowledge(
            self.domain,
            "AwsSolutions-OS4",
            "Dedicated master nodes triple the cost of the one- or two-node default; raise "
            "searchInstanceCount and enable them for production clusters.",
        )
        acknowledge(
            self.domain,
            "AwsSolutions-OS5",
            "The domain has no public endpoint: it is reachable only inside its VPC, through its "
            "security group, from the client security group; fine-grained access control "
            "authenticates every request (master user or a mapped IAM role). An access policy "
            "naming IAM roles would reject the set-up's and the Dashboards login's basic auth.",
        )
        acknowledge(
            self.domain,
            "AwsSolutions-OS7",
            "Zone awareness turns on when searchInstanceCount > 1; the default single node is for "
            "a small fleet whose readings are also kept in S3.",
        )
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "A delivery stream whose source is a Kinesis stream cannot set its own server-side "
            "encryption; the source stream, the domain and the backup bucket are encrypted.",
        )
        for function in (self.validator, self.setup_fn):  # no wildcard at all
            acknowledge_wildcards(function.role, LOG_STREAMS_ONLY, reviewed=[])  # type: ignore[arg-type]
        acknowledge(
            self.setup_fn.role,  # type: ignore[arg-type]
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaVPCAccessExecutionRole]",
            "The set-up function runs in the VPC; this managed policy holds only the network "
            "interface permissions Lambda needs there.",
        )
        acknowledge_wildcards(
            self.role,
            "Firehose writes failed documents only below errors/search/, writes to log streams of "
            "its own log group, invokes its validator (<arn>:* are its versions), calls the "
            "domain's HTTP API (<domain>/*), and manages its network interfaces in the VPC "
            "(the EC2 network interface actions take no resource).",
            reviewed=[
                "Resource::*",
                "Resource::<SearchDomainAB6007CD.Arn>/*",
                "Resource::<SearchValidatorA08FFAAF.Arn>:*",
                "Resource::<StorageData6BB23F4E.Arn>/errors/search/*",
                "Resource::" + LOG_STREAMS.format("SearchDeliveryLogsC14C6920"),
            ],
        )
        acknowledge_provider_framework(provider, "the set-up function", "<SearchSetup72AF4357.Arn>")
        if self.tunnel is not None:
            acknowledge_wildcards(
                self.tunnel.role,
                "Session Manager's message channels (ssmmessages, ec2messages) take no resource.",
                reviewed=["Action::ec2messages:*", "Action::ssmmessages:*", "Resource::*"],
            )

    def _dashboards_tunnel(self, subnets: list[ec2.ISubnet]) -> ec2.BastionHostLinux:
        """A tiny Linux host reachable only through SSM Session Manager (no SSH, no public IP),
        for port forwarding to OpenSearch Dashboards from a laptop."""
        tunnel = ec2.BastionHostLinux(
            self,
            "DashboardsTunnel",
            vpc=self.vpc,
            subnet_selection=ec2.SubnetSelection(subnets=subnets),
            security_group=self.client_sg,
            instance_type=ec2.InstanceType("t3.nano"),
            require_imdsv2=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(8, encrypted=True),
                )
            ],
        )
        tunnel.instance.instance.add_property_override("Monitoring", True)
        acknowledge(
            tunnel,
            "AwsSolutions-EC28",
            "Detailed monitoring is enabled through a property override, which cdk-nag cannot see.",
        )
        acknowledge(
            tunnel,
            "AwsSolutions-EC29",
            "The tunnel host is stateless and disposable: it only forwards Session Manager "
            "sessions to the domain; termination protection would block `cdk destroy`.",
        )
        acknowledge(
            tunnel,
            "AwsSolutions-IAM4",
            "AmazonSSMManagedInstanceCore is the documented minimum for Session Manager "
            "on the tunnel host.",
        )
        return tunnel
