"""Deploy the real synthesized template onto moto, the local Athena endpoint and the emulated
OpenSearch, and check what a user would find there."""

import json

import boto3
import pytest

from localcloud.athena.server import AthenaServer
from localcloud.cloud import RESOURCE_TYPES
from localcloud.cloudformation.deployer import Clients, Deployer
from localcloud.cloudformation.template import StackTemplate
from tests.conftest import point_boto3_at

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployment(moto_server, cdk_out, tmp_path_factory):
    """One deployment for the module (the tests only read what it created)."""
    moto_server.reset()
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_boto3_at(moto_server, monkeypatch)
        with AthenaServer(work_dir=tmp_path_factory.mktemp("athena")) as athena:
            monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", athena.endpoint)
            template = StackTemplate.load(cdk_out, "SensorPipeline")
            deployer = Deployer(
                template, Clients(), RESOURCE_TYPES, env={"OPENSEARCH_URL": "http://127.0.0.1:9"}
            )
            yield deployer.deploy()


def test_buckets_streams_tables_and_things_exist(deployment):
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert len(buckets) == 3
    streams = boto3.client("kinesis").list_streams()["StreamNames"]
    assert len(streams) == 1
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    assert len(tables) == 3  # compaction state, alert thresholds, alert state
    (table,) = [t for t in tables if "compaction" in t.lower()]
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"
    things = [t["thingName"] for t in boto3.client("iot").list_things()["things"]]
    assert things == ["sensehat-01"]


def test_glue_tables_carry_the_projection_from_the_template(deployment):
    glue = boto3.client("glue")
    raw = glue.get_table(DatabaseName="sensor_pipeline", Name="raw_readings")["Table"]
    params = raw["Parameters"]
    assert params["projection.enabled"] == "true"
    bucket = deployment.refs[next(i for i in deployment.refs if i.startswith("StorageData"))]
    assert params["storage.location.template"] == f"s3://{bucket}/raw/dt=${{dt}}/hour=${{hour}}/"
    assert glue.get_table(DatabaseName="sensor_pipeline", Name="readings")["Table"]


def test_workgroup_and_named_queries_reach_the_local_athena(deployment):
    athena = boto3.client("athena")
    workgroup = athena.get_work_group(WorkGroup="sensor-pipeline")["WorkGroup"]
    config = workgroup["Configuration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 1024 * 1024 * 1024
    ids = athena.list_named_queries(WorkGroup="sensor-pipeline")["NamedQueryIds"]
    names = {athena.get_named_query(NamedQueryId=i)["NamedQuery"]["Name"] for i in ids}
    assert "hourly_profile" in names


def test_iot_policy_and_rule_are_registered(deployment):
    iot = boto3.client("iot")
    (policy_name,) = deployment.runtime["AWS::IoT::Policy"]
    document = json.loads(iot.get_policy(policyName=policy_name)["policyDocument"])
    assert {s["Action"] for s in document["Statement"]} == {
        "iot:Connect",
        "iot:Publish",
        "iot:Subscribe",
        "iot:Receive",
    }
    (rule_name,) = deployment.runtime["AWS::IoT::TopicRule"]
    rule = iot.get_topic_rule(ruleName=rule_name)["rule"]
    assert "encode(*, 'base64')" in rule["sql"]


def test_runtime_pieces_are_recorded_with_resolved_properties(deployment):
    functions = deployment.runtime["AWS::Lambda::Function"]
    handlers = sorted(p["Handler"] for p in functions.values())
    assert handlers == [
        "alerter.handler.lambda_handler",
        "compactor.handler.lambda_handler",
        "device_registry.handler.lambda_handler",
        "search_setup.handler.lambda_handler",
        "validator.handler.lambda_handler",
        "validator.handler.lambda_handler",
    ]
    for props in deployment.runtime["AWS::KinesisFirehose::DeliveryStream"].values():
        source = props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"]
        assert source.startswith("arn:aws:kinesis:us-east-1:123456789012:stream/")


def test_what_is_not_emulated_is_listed(deployment):
    listed = " ".join(deployment.not_emulated)
    for kind in ("AWS::EC2::VPC", "AWS::CloudWatch::Alarm", "AWS::KMS::Key"):
        assert kind in listed
    assert any("not emulated" in line for line in deployment.summary())
