"""The broker's ACL from a deployment: the devices' policy, and the rule engine's topics."""

from localcloud.cloudformation.deployer import Deployment
from localcloud.iot.resources import POLICY, THING, TOPIC_RULE, broker_acl
from localcloud.iot.rules import ENGINE_CLIENT_ID

ARN = "arn:aws:iot:us-east-1:123456789012"
VARIABLE = "${iot:Connection.Thing.ThingName}"
RULE = "sensor_pipeline_telemetry_dev"


def deployment() -> Deployment:
    deployed = Deployment(stack="SensorPipeline-dev")
    deployed.created[THING].append("Thing0")
    deployed.refs["Thing0"] = "pi-1"
    deployed.runtime[POLICY]["DevicePolicy"] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{ARN}:client/{VARIABLE}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": f"{ARN}:topic/$aws/rules/{RULE}/sensors/{VARIABLE}/telemetry",
            },
        ],
    }
    deployed.runtime[TOPIC_RULE][RULE] = {
        "RuleName": RULE,
        "TopicRulePayload": {
            "AwsIotSqlVersion": "2016-03-23",
            "Sql": "SELECT topic(2) AS thing_name FROM 'sensors/+/telemetry'",
            "Actions": [{"Kinesis": {"StreamName": "readings", "PartitionKey": "${topic(2)}"}}],
        },
    }
    return deployed


def test_a_device_may_publish_to_its_basic_ingest_topic_and_the_engine_reads_it():
    acl = broker_acl(deployment())
    assert acl[:2] == ["user pi-1", f"topic write $aws/rules/{RULE}/sensors/pi-1/telemetry"]
    engine = acl.index(f"user {ENGINE_CLIENT_ID}")
    assert acl[engine + 1 : engine + 3] == [
        "topic read sensors/+/telemetry",
        f"topic read $aws/rules/{RULE}/sensors/+/telemetry",
    ]
    # No device may write the plain topic any more, nor read a Basic Ingest topic.
    assert not any(line.startswith("topic write sensors/") for line in acl[:engine])
    assert not any("read $aws" in line for line in acl[:engine])
