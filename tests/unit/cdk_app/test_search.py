from search_setup.document_id import DOCUMENT_ID
from tests.unit.cdk_app.support import function_of, only, resources_of


def test_vpc_has_no_internet_path(template):
    assert resources_of(template, "AWS::EC2::InternetGateway") == {}
    assert resources_of(template, "AWS::EC2::NatGateway") == {}
    for subnet in resources_of(template, "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    only(template, "AWS::EC2::FlowLog")


def test_domain_is_in_private_subnets_encrypted_https_only_with_fine_grained_access(template):
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    subnet_ids = {ref["Ref"] for ref in domain["VPCOptions"]["SubnetIds"]}
    assert subnet_ids <= set(resources_of(template, "AWS::EC2::Subnet"))
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["DomainEndpointOptions"]["TLSSecurityPolicy"].startswith("Policy-Min-TLS-1-2")
    security = domain["AdvancedSecurityOptions"]
    assert security["Enabled"] is True
    # The master password is a dynamic reference to Secrets Manager, never a literal.
    assert "resolve:secretsmanager" in str(security["MasterUserOptions"]["MasterUserPassword"])


def test_domain_accepts_https_only_from_its_clients(template):
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    (sg_ref,) = domain["VPCOptions"]["SecurityGroupIds"]
    sg_id = sg_ref["Fn::GetAtt"][0]
    ingress = [
        r["Properties"]
        for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [sg_id, "GroupId"]}
    ]
    sg = template.to_json()["Resources"][sg_id]["Properties"]
    ingress += sg.get("SecurityGroupIngress", [])
    assert ingress and all(rule["FromPort"] == rule["ToPort"] == 443 for rule in ingress)
    assert all("CidrIp" not in rule for rule in ingress)


def test_one_node_by_default_zone_awareness_with_more(make_template, template):
    cluster = only(template, "AWS::OpenSearchService::Domain")["Properties"]["ClusterConfig"]
    assert cluster["InstanceCount"] == 1 and cluster["ZoneAwarenessEnabled"] is False
    bigger = make_template(searchInstanceCount=2)
    cluster = only(bigger, "AWS::OpenSearchService::Domain")["Properties"]["ClusterConfig"]
    assert cluster["ZoneAwarenessEnabled"] is True
    assert (
        len(only(bigger, "AWS::OpenSearchService::Domain")["Properties"]["VPCOptions"]["SubnetIds"])
        == 2
    )


def test_set_up_runs_in_the_vpc_and_maps_the_firehose_role(template):
    setup = only(template, "Custom::OpenSearchSetup")["Properties"]
    assert setup["IndexName"] == "sensor-log"
    (writer,) = setup["WriterRoleArns"]
    search_stream = next(
        s
        for s in resources_of(template, "AWS::KinesisFirehose::DeliveryStream").values()
        if "AmazonopensearchserviceDestinationConfiguration" in s["Properties"]
    )["Properties"]["AmazonopensearchserviceDestinationConfiguration"]
    assert writer == search_stream["RoleARN"]
    assert "VpcConfig" in function_of(template, "search_setup")  # the one set-up function


def test_search_documents_are_keyed_by_the_set_up_s_pipeline(template):
    """Firehose sends its own id with each document; the set-up's default pipeline replaces it
    with the reading's (device_id, seq). The rule is a property of the set-up, so a change of it
    runs the set-up again."""
    setup = only(template, "Custom::OpenSearchSetup")["Properties"]
    assert setup["DocumentId"] == DOCUMENT_ID == "{{device_id}}:{{seq}}"
    search_stream = next(
        s
        for s in resources_of(template, "AWS::KinesisFirehose::DeliveryStream").values()
        if "AmazonopensearchserviceDestinationConfiguration" in s["Properties"]
    )["Properties"]["AmazonopensearchserviceDestinationConfiguration"]
    assert search_stream["DocumentIdOptions"] == {"DefaultDocumentIdFormat": "FIREHOSE_DEFAULT"}


def test_dashboards_tunnel_is_ssm_only_and_optional(make_template, template):
    instance = only(make_template(dashboardsBastion=True), "AWS::EC2::Instance")["Properties"]
    assert "KeyName" not in instance
    assert instance["Monitoring"] is True
    assert resources_of(template, "AWS::EC2::Instance") == {}  # off in the small profile


def _interface_endpoints(template) -> dict[str, int]:
    """Interface endpoint logical id -> the number of zones (subnets) it bills in."""
    return {
        logical_id: len(resource["Properties"]["SubnetIds"])
        for logical_id, resource in resources_of(template, "AWS::EC2::VPCEndpoint").items()
        if resource["Properties"].get("VpcEndpointType") == "Interface"
    }


def test_interface_endpoints_only_where_needed_and_in_the_configured_zones(make_template, template):
    small = _interface_endpoints(template)
    assert [name for name in small if "SecretsManager" in name] == list(small)  # set-up only
    assert set(small.values()) == {1}
    with_tunnel = _interface_endpoints(
        make_template(dashboardsBastion=True, interfaceEndpointZones=2)
    )
    assert len(with_tunnel) == 4  # plus Session Manager's ssm, ssmmessages, ec2messages
    assert set(with_tunnel.values()) == {2}
