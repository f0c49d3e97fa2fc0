"""The local deployer: the synthesized template, deployed onto the local cloud.

Walks the template's resources in dependency order and creates each one of a type the pipeline
uses against the local endpoints (moto for S3, Kinesis, DynamoDB, Glue, IAM, IoT, SNS, SQS,
Secrets Manager, CloudWatch Logs; the local Athena endpoint for the workgroup and named queries).
Resources that run code (Lambda functions, event source mappings, delivery streams, topic rules,
bucket notifications, schedules, custom resources) are recorded with their resolved properties
for the local runtime. Every other
type is listed as not emulated. Nothing here knows a setting of the pipeline: all of it comes
from the template.

Differences from AWS:
- IAM roles and policies are created but not enforced (moto stores them).
- Bucket and queue policies are applied without their TLS-only statements (Deny on
  `aws:SecureTransport` or `s3:TlsVersion`): the local endpoints speak plain HTTP on 127.0.0.1.
- SQS queues ignore their KMS settings (`KmsMasterKeyId`, `KmsDataKeyReusePeriodSeconds`).
- An event source mapping's `Ref` is a UUID derived from the stack and logical id (the same on
  every local deployment, so the local poller's checkpoints survive a restart); AWS makes a new
  one. Lambda permissions (`AWS::Lambda::Permission`) are listed as not emulated: no resource
  policy is evaluated locally.
- S3 lifecycle rules, KMS keys, VPCs, security groups, EC2 instances, CloudWatch alarms and
  dashboards are not emulated; they are listed when the deployer runs.
- The OpenSearch domain's `DomainEndpoint` is the emulated OpenSearch's `http://127.0.0.1:<port>`
  (AWS returns a host name served over HTTPS).
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud.cloudformation.template import (
    Resolver,
    Resource,
    StackTemplate,
    TemplateError,
    physical_name,
)
from localcloud.core.aws import ACCOUNT_ID, REGION

RUNTIME_TYPES = {
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::IoT::TopicRule",
    "AWS::Events::Rule",
    "Custom::S3BucketNotifications",
}
NOT_EMULATED_PREFIXES = ("AWS::EC2::", "AWS::CloudWatch::", "AWS::KMS::", "AWS::CDK::")


@dataclass
class Deployment:
    """What was deployed: names and attributes, and what the local runtime must run."""

    stack: str
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    runtime: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # every function's props
    # Resources not emulated still answer Ref and Fn::GetAtt with a marked placeholder, so that
    # emulated resources referring to them (a function's VPC settings) can be deployed.
    placeholders: dict[str, str] = field(default_factory=dict)  # logical id -> type
    not_emulated: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def attribute(self, logical_id: str, name: str) -> Any:
        if (logical_id, name) in self.attributes:
            return self.attributes[(logical_id, name)]
        if logical_id in self.placeholders:
            if name.endswith("Arn"):  # ARN-shaped: IAM (moto) validates policy resources
                service = self.placeholders[logical_id].split("::")[1].lower()
                return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:not-emulated/{logical_id}"
            return f"not-emulated:{logical_id}.{name}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{name} is not known locally")

    def logical_id_of_arn(self, arn: str) -> str:
        for (logical_id, name), value in self.attributes.items():
            if name == "Arn" and value == arn:
                return logical_id
        raise TemplateError(f"no locally deployed resource has the ARN {arn}")

    def summary(self) -> list[str]:
        lines = [f"deployed {len(ids):3d} x {kind}" for kind, ids in sorted(self.created.items())]
        lines += [
            f"runtime  {len(items):3d} x {kind}" for kind, items in sorted(self.runtime.items())
        ]
        lines += [
            f"not emulated: {kind} ({len(ids)})" for kind, ids in sorted(self.not_emulated.items())
        ]
        return lines


class Clients:
    """boto3 clients; endpoints come from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = boto3.client(service, region_name=REGION)
        return self._cache[service]


Handler = Callable[[Resource, dict[str, Any], str], dict[str, Any]]


class Deployer:
    def __init__(
        self,
        template: StackTemplate,
        clients: Clients,
        opensearch_endpoint: str | None = None,
    ) -> None:
        self.template = template
        self.clients = clients
        self.opensearch_endpoint = opensearch_endpoint
        self.deployment = Deployment(stack=template.name)
        self.resolver = Resolver(template, self.deployment.refs, self.deployment.attribute)
        self.handlers: dict[str, Handler] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::Kinesis::Stream": self._stream,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Glue::Database": self._glue_database,
            "AWS::Glue::Table": self._glue_table,
            "AWS::Athena::WorkGroup": self._workgroup,
            "AWS::Athena::NamedQuery": self._named_query,
            "AWS::IoT::Thing": self._thing,
            "AWS::IoT::Policy": self._iot_policy,
            "AWS::IoT::TopicRule": self._topic_rule,
            "AWS::IAM::Role": self._role,
            "AWS::IAM::Policy": self._policy,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::KinesisFirehose::DeliveryStream": self._delivery_stream,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::OpenSearchService::Domain": self._domain,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Logs::LogStream": self._log_stream,
            "AWS::Events::Rule": self._events_rule,
            "Custom::S3BucketNotifications": self._bucket_notifications,
        }

    def deploy(self) -> Deployment:
        for resource in self.template.in_dependency_order():
            handler = self.handlers.get(resource.type)
            if handler is None and resource.type.startswith("Custom::"):
                handler = self._custom_resource
            name = physical_name(self.template.name, resource.logical_id, resource.type)
            if handler is None:
                self.deployment.not_emulated[resource.type].append(resource.logical_id)
                self.deployment.refs[resource.logical_id] = f"not-emulated:{name}"
                self.deployment.placeholders[resource.logical_id] = resource.type
                continue
            props = self.resolver.resolve(resource.properties)
            outcome = handler(resource, props, name)
            if "ref" in outcome:  # also for what is not run: others may reference it
                self.deployment.refs[resource.logical_id] = outcome["ref"]
            for attr, value in outcome.get("attributes", {}).items():
                self.deployment.attributes[(resource.logical_id, attr)] = value
            if outcome.get("skip"):
                self.deployment.not_emulated[f"{resource.type} ({outcome['skip']})"].append(
                    resource.logical_id
                )
                continue
            self.deployment.created[resource.type].append(resource.logical_id)
        return self.deployment

    # --- storage -----------------------------------------------------------------------------

    def _bucket(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        bucket = props.get("BucketName", name)
        self.clients("s3").create_bucket(Bucket=bucket)
        return {
            "ref": bucket,
            "attributes": {
                "Arn": f"arn:aws:s3:::{bucket}",
                "DomainName": f"{bucket}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
            },
        }

    def _bucket_policy(self, _r: Resource, props: dict[str, Any], _name: str) -> dict[str, Any]:
        document = dict(props["PolicyDocument"])
        statements = [s for s in document["Statement"] if not _denies_plain_http(s)]
        if statements:
            document["Statement"] = statements
            self.clients("s3").put_bucket_policy(
                Bucket=props["Bucket"], Policy=json.dumps(document)
            )
        return {"ref": props["Bucket"]}

    def _stream(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        stream = props.get("Name", name)
        mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
        kinesis = self.clients("kinesis")
        if mode == "ON_DEMAND":
            kinesis.create_stream(StreamName=stream, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            kinesis.create_stream(StreamName=stream, ShardCount=int(props.get("ShardCount", 1)))
        kinesis.get_waiter("stream_exists").wait(
            StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
        )
        return {
            "ref": stream,
            "attributes": {"Arn": f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{stream}"},
        }

    def _table(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        table = props.get("TableName", name)
        dynamodb = self.clients("dynamodb")
        args: dict[str, Any] = {
            "TableName": table,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        return {
            "ref": table,
            "attributes": {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"},
        }

    # --- catalog and queries -----------------------------------------------------------------

    def _glue_database(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        database = dict(props["DatabaseInput"])
        database.setdefault("Name", name)
        self.clients("glue").create_database(DatabaseInput=database)
        return {"ref": database["Name"]}

    def _glue_table(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        table = _glue_parameters_as_strings(dict(props["TableInput"]))
        table.setdefault("Name", name)
        self.clients("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
        return {"ref": table["Name"]}

    def _workgroup(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        workgroup = props.get("Name", name)
        config = props.get("WorkGroupConfiguration", {})
        self.clients("athena").create_work_group(
            Name=workgroup,
            Configuration=config,
            Description=props.get("Description", ""),
        )
        return {"ref": workgroup}

    def _named_query(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        response = self.clients("athena").create_named_query(
            Name=props.get("Name", name),
            Database=props["Database"],
            QueryString=props["QueryString"],
            Description=props.get("Description", ""),
            WorkGroup=props.get("WorkGroup", "primary"),
        )
        return {"ref": response["NamedQueryId"]}

    # --- IoT ------------------------------------------------------------------------------------

    def _thing(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        thing = props.get("ThingName", name)
        response = self.clients("iot").create_thing(thingName=thing)
        return {"ref": thing, "attributes": {"Arn": response["thingArn"]}}

    def _iot_policy(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        policy = props.get("PolicyName", name)
        document = props["PolicyDocument"]
        self.clients("iot").create_policy(policyName=policy, policyDocument=json.dumps(document))
        self.deployment.runtime["AWS::IoT::Policy"][policy] = document
        return {
            "ref": policy,
            "attributes": {"Arn": f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:policy/{policy}"},
        }

    def _topic_rule(self, resource: Resource, props: dict[str, Any], _name: str) -> dict[str, Any]:
        rule = props.get("RuleName", resource.logical_id)  # rule names allow [a-zA-Z0-9_]
        payload = props["TopicRulePayload"]
        self.clients("iot").create_topic_rule(
            ruleName=rule, topicRulePayload=_topic_rule_api_payload(payload)
        )
        self.deployment.runtime[resource.type][rule] = props
        return {
            "ref": rule,
            "attributes": {"Arn": f"arn:aws:iot:{REGION}:{ACCOUNT_ID}:rule/{rule}"},
        }

    # --- IAM, secrets, logs, SNS -----------------------------------------------------------------

    def _role(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        role = props.get("RoleName", name)
        response = self.clients("iam").create_role(
            RoleName=role,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            Description=props.get("Description", ""),
        )
        for policy in props.get("Policies", []):
            self.clients("iam").put_role_policy(
                RoleName=role,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(policy["PolicyDocument"]),
            )
        return {
            "ref": role,
            "attributes": {"Arn": response["Role"]["Arn"], "RoleId": response["Role"]["RoleId"]},
        }

    def _policy(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        policy = props.get("PolicyName", name)
        for role in props.get("Roles", []):
            self.clients("iam").put_role_policy(
                RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(props["PolicyDocument"])
            )
        return {"ref": policy}

    def _secret(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        secret_name = props.get("Name", name)
        value = props.get("SecretString") or _generate_secret(props.get("GenerateSecretString"))
        response = self.clients("secretsmanager").create_secret(
            Name=secret_name, SecretString=value, Description=props.get("Description", "")
        )
        return {"ref": response["ARN"], "attributes": {"Id": response["ARN"]}}

    def _log_group(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        group = props.get("LogGroupName", f"/local/{name}")
        self.clients("logs").create_log_group(logGroupName=group)
        return {
            "ref": group,
            "attributes": {"Arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}:*"},
        }

    def _log_stream(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        stream = props.get("LogStreamName", name)
        self.clients("logs").create_log_stream(
            logGroupName=props["LogGroupName"], logStreamName=stream
        )
        return {"ref": stream}

    def _topic(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        arn = self.clients("sns").create_topic(Name=props.get("TopicName", name))["TopicArn"]
        return {"ref": arn, "attributes": {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}}

    def _subscription(self, _r: Resource, props: dict[str, Any], _name: str) -> dict[str, Any]:
        response = self.clients("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )
        return {"ref": response["SubscriptionArn"]}

    def _queue(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        fifo = bool(props.get("FifoQueue", False))
        queue = props.get("QueueName") or (f"{name[:75]}.fifo" if fifo else name[:80])
        sqs = self.clients("sqs")
        url = sqs.create_queue(QueueName=queue, Attributes=_queue_attributes(props))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return {
            "ref": url,
            "attributes": {"Arn": arn, "QueueName": queue, "QueueUrl": url},
        }

    def _queue_policy(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        document = dict(props["PolicyDocument"])
        statements = [s for s in document.get("Statement", []) if not _denies_plain_http(s)]
        if statements:
            document["Statement"] = statements
            for url in props.get("Queues", []):
                self.clients("sqs").set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": json.dumps(document)}
                )
        return {"ref": name}

    # --- what the local runtime runs -----------------------------------------------------------

    def _function(self, resource: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        function = props.get("FunctionName", name)
        outcome: dict[str, Any] = {
            "ref": function,
            "attributes": {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}"},
        }
        self.deployment.functions[resource.logical_id] = {**props, "FunctionName": function}
        if not str(props.get("Runtime", "")).startswith("python"):
            outcome["skip"] = f"runtime {props.get('Runtime')}: only Python functions run locally"
        elif "ZipFile" in props.get("Code", {}):
            outcome["skip"] = "inline code: CDK's own helper, its job is emulated directly"
        else:
            self.deployment.runtime[resource.type][resource.logical_id] = props
        return outcome

    def _event_source_mapping(
        self, resource: Resource, props: dict[str, Any], _name: str
    ) -> dict[str, Any]:
        """Recorded for the local runtime (which polls Kinesis sources); Ref is its UUID."""
        mapping = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.template.name}/{resource.logical_id}"))
        self.deployment.runtime[resource.type][resource.logical_id] = {**props, "Id": mapping}
        return {
            "ref": mapping,
            "attributes": {
                "Id": mapping,
                "EventSourceMappingArn": (
                    f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:event-source-mapping:{mapping}"
                ),
            },
        }

    def _delivery_stream(
        self, resource: Resource, props: dict[str, Any], name: str
    ) -> dict[str, Any]:
        stream = props.get("DeliveryStreamName", name)
        props = {**props, "DeliveryStreamName": stream}
        self.deployment.runtime[resource.type][resource.logical_id] = props
        return {
            "ref": stream,
            "attributes": {
                "Arn": f"arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/{stream}"
            },
        }

    def _domain(self, _r: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        if self.opensearch_endpoint is None:
            return {"skip": "no emulated OpenSearch running"}
        domain = props.get("DomainName", name.lower()[:28])
        return {
            "ref": domain,
            "attributes": {
                "Arn": f"arn:aws:es:{REGION}:{ACCOUNT_ID}:domain/{domain}",
                "DomainArn": f"arn:aws:es:{REGION}:{ACCOUNT_ID}:domain/{domain}",
                "DomainEndpoint": self.opensearch_endpoint,
            },
        }

    def _events_rule(self, resource: Resource, props: dict[str, Any], name: str) -> dict[str, Any]:
        self.deployment.runtime[resource.type][resource.logical_id] = props
        rule = props.get("Name", name)
        return {
            "ref": rule,
            "attributes": {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"},
        }

    def _bucket_notifications(
        self, resource: Resource, props: dict[str, Any], _name: str
    ) -> dict[str, Any]:
        self.deployment.runtime[resource.type][resource.logical_id] = props
        return {"ref": f"{props['BucketName']}-notifications"}

    def _custom_resource(
        self, resource: Resource, props: dict[str, Any], name: str
    ) -> dict[str, Any]:
        """Custom resources whose provider is a local Python function run after deployment."""
        self.deployment.custom[resource.logical_id] = {"type": resource.type, "props": props}
        return {"ref": name}


def _topic_rule_api_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's TopicRulePayload, in the IoT API's lower-camel-case shape."""

    def lower(value: Any) -> Any:
        if isinstance(value, dict):
            return {k[0].lower() + k[1:]: lower(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lower(v) for v in value]
        return value

    api = lower(payload)
    api["ruleDisabled"] = bool(api.get("ruleDisabled", False))
    return dict(api)


SQS_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
)


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's queue properties as SQS attributes (strings; policies as JSON); KMS
    settings are left out."""
    attributes: dict[str, str] = {}
    for key in SQS_ATTRIBUTES:
        if key not in props:
            continue
        value = props[key]
        if isinstance(value, bool):
            attributes[key] = str(value).lower()
        elif isinstance(value, (dict, list)):
            attributes[key] = json.dumps(value)
        else:
            attributes[key] = str(value)
    return attributes


TRANSPORT_CONDITION_KEYS = {"aws:SecureTransport", "s3:TlsVersion"}


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    """A TLS-only statement (Deny on `aws:SecureTransport` or `s3:TlsVersion`): the local
    endpoints speak plain HTTP on 127.0.0.1, and moto evaluates bucket policies."""
    condition = statement.get("Condition", {})
    keys = {key for operator in condition.values() for key in operator}
    return statement.get("Effect") == "Deny" and bool(keys) and keys <= TRANSPORT_CONDITION_KEYS


def _glue_parameters_as_strings(value: Any) -> Any:
    """CloudFormation takes JSON values in Glue `Parameters` maps; the Glue API takes strings
    (true -> "true"), as CloudFormation converts them."""
    if isinstance(value, list):
        return [_glue_parameters_as_strings(v) for v in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, inner in value.items():
        if key == "Parameters" and isinstance(inner, dict):
            converted[key] = {
                k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in inner.items()
            }
        else:
            converted[key] = _glue_parameters_as_strings(inner)
    return converted


def _generate_secret(spec: dict[str, Any] | None) -> str:
    """GenerateSecretString: a random password, optionally inside a JSON template."""
    spec = spec or {}
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = [
        c for c in string.ascii_letters + string.digits + "!#$%&*+-.:=?^_~" if c not in excluded
    ]
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template = spec.get("SecretStringTemplate")
    if template:
        value = json.loads(template)
        value[spec["GenerateStringKey"]] = password
        return json.dumps(value)
    return password
