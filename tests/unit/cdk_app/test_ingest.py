from aws_cdk.assertions import Match

from cdk_app.ingest import RULE_SQL
from device.contract import DEFAULT_TOPIC_TEMPLATE
from tests.unit.cdk_app.support import only, rendered, resources_of

THING = "${iot:Connection.Thing.ThingName}"


def test_a_thing_for_every_device_in_context(make_template):
    template = make_template(deviceNames=["pi-kitchen", "pi-garage"])
    names = sorted(
        r["Properties"]["ThingName"] for r in resources_of(template, "AWS::IoT::Thing").values()
    )
    assert names == ["pi-garage", "pi-kitchen"]


def test_device_policy_has_exactly_the_own_thing_resources(template):
    policy = only(template, "AWS::IoT::Policy")["Properties"]["PolicyDocument"]
    statements = {s["Action"]: s for s in policy["Statement"]}
    assert set(statements) == {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    prefix = "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}"
    assert rendered(statements["iot:Connect"]["Resource"]) == f"{prefix}:client/{THING}"
    assert statements["iot:Connect"]["Condition"] == {
        "Bool": {"iot:Connection.Thing.IsAttached": "true"}
    }
    # Publishing only through Basic Ingest, to this stack's rule, on the own thing's topic.
    assert (
        rendered(statements["iot:Publish"]["Resource"])
        == f"{prefix}:topic/$aws/rules/sensor_pipeline_telemetry/sensors/{THING}/telemetry"
    )
    # A device may subscribe to and receive its own alerts topic, nothing else.
    assert (
        rendered(statements["iot:Subscribe"]["Resource"])
        == f"{prefix}:topicfilter/sensors/{THING}/alerts"
    )
    assert (
        rendered(statements["iot:Receive"]["Resource"]) == f"{prefix}:topic/sensors/{THING}/alerts"
    )
    # No wildcard anywhere beyond the policy variable.
    for statement in statements.values():
        assert "*" not in rendered(statement["Resource"])


def test_rule_has_a_fixed_name_for_basic_ingest(template):
    rule = only(template, "AWS::IoT::TopicRule")["Properties"]
    assert rule["RuleName"] == "sensor_pipeline_telemetry"
    outputs = template.to_json()["Outputs"]
    topic = outputs["TelemetryTopic"]["Value"]
    assert topic == "$aws/rules/sensor_pipeline_telemetry/sensors/{thing}/telemetry"
    # The publisher's default topic is the default stack's: a device needs no topic setting.
    assert topic == DEFAULT_TOPIC_TEMPLATE


def test_a_second_stage_has_its_own_rule_and_topic(make_template):
    template = make_template(stage="dev", deviceNames=["pi-dev"])
    rule = only(template, "AWS::IoT::TopicRule")["Properties"]
    assert rule["RuleName"] == "sensor_pipeline_telemetry_dev"
    topic = template.to_json()["Outputs"]["TelemetryTopic"]["Value"]
    assert topic == "$aws/rules/sensor_pipeline_telemetry_dev/sensors/{thing}/telemetry"
    policy = only(template, "AWS::IoT::Policy")["Properties"]["PolicyDocument"]
    (publish,) = [s for s in policy["Statement"] if s["Action"] == "iot:Publish"]
    assert rendered(publish["Resource"]).endswith(
        f":topic/$aws/rules/sensor_pipeline_telemetry_dev/sensors/{THING}/telemetry"
    )


def test_rule_sql_adds_device_name_and_arrival_time_and_never_parses_the_payload(template):
    rule = only(template, "AWS::IoT::TopicRule")["Properties"]["TopicRulePayload"]
    assert rule["Sql"] == RULE_SQL
    assert "topic(2) AS thing_name" in rule["Sql"]
    assert "timestamp() AS arrival_ms" in rule["Sql"]
    assert "encode(*, 'base64') AS payload" in rule["Sql"]
    assert rule["AwsIotSqlVersion"] == "2016-03-23"
    assert rule["RuleDisabled"] is False


def test_rule_sends_to_kinesis_partitioned_by_device_with_an_error_action(template):
    rule = only(template, "AWS::IoT::TopicRule")["Properties"]["TopicRulePayload"]
    (action,) = rule["Actions"]
    stream_id = next(iter(resources_of(template, "AWS::Kinesis::Stream")))
    assert action["Kinesis"]["StreamName"] == {"Ref": stream_id}
    assert action["Kinesis"]["PartitionKey"] == "${topic(2)}"
    error = rule["ErrorAction"]["S3"]
    assert error["Key"].startswith("errors/iot-rule/")
    assert "${newuuid()}" in error["Key"]


def test_rule_role_trusts_iot_and_may_put_only_to_the_one_stream(template):
    rule = only(template, "AWS::IoT::TopicRule")["Properties"]["TopicRulePayload"]
    role_id = rule["Actions"][0]["Kinesis"]["RoleArn"]["Fn::GetAtt"][0]
    role = template.to_json()["Resources"][role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    policies = [
        p
        for p in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    (policy,) = policies
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    stream_id = next(iter(resources_of(template, "AWS::Kinesis::Stream")))
    kinesis = [s for s in statements if str(s["Action"]).startswith("kinesis")]
    assert kinesis == [
        {
            "Action": "kinesis:PutRecord",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [stream_id, "Arn"]},
        }
    ]
    s3 = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert len(s3) == 1 and rendered(s3[0]["Resource"]).endswith("/errors/iot-rule/*")
    assert len(statements) == 2


def test_rule_is_created_after_its_role_policy(template):
    _rule_id, rule = next(iter(resources_of(template, "AWS::IoT::TopicRule").items()))
    policy_ids = [
        pid
        for pid, p in resources_of(template, "AWS::IAM::Policy").items()
        if "IngestRuleRole" in pid
    ]
    assert set(policy_ids) <= set(rule.get("DependsOn", []))


def test_stream_has_one_provisioned_shard_and_is_encrypted_by_default(template):
    """The small profile's default: one shard (1,000 records/s) bills less than a stream-hour."""
    stream = only(template, "AWS::Kinesis::Stream")["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["ShardCount"] == 1
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


def test_stream_is_on_demand_by_context(make_template):
    stream = only(make_template(kinesisStreamMode="ON_DEMAND"), "AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in stream["Properties"]


def test_provisioned_shards_by_context(make_template):
    template = make_template(kinesisStreamMode="PROVISIONED", kinesisShardCount=3)
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 3,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamEncryption": Match.any_value(),
        },
    )


def test_things_carry_their_place_and_sensor_as_attributes(make_template):
    registry = {
        "pi-kitchen": {"site": "home", "building": "main", "floor": "0", "room": "kitchen"},
        "pi-attic": {"sensor": "SHT31"},
        "pi-plain": {},
    }
    things = resources_of(make_template(deviceNames=registry), "AWS::IoT::Thing").values()
    by_name = {t["Properties"]["ThingName"]: t["Properties"] for t in things}
    assert by_name["pi-kitchen"]["AttributePayload"] == {
        "Attributes": {"place": "home/main/0/kitchen"}
    }
    assert by_name["pi-attic"]["AttributePayload"] == {"Attributes": {"sensor": "SHT31"}}
    assert "AttributePayload" not in by_name["pi-plain"]
