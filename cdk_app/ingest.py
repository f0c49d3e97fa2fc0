"""IoT Core (things, the device policy, the topic rule) and the Kinesis stream it feeds.

Devices publish through Basic Ingest: to `$aws/rules/<rule name>/sensors/<thing>/telemetry`,
which goes straight to the named rule without the message broker, so IoT Core does not bill it
as messaging. The rule sees the topic without the `$aws/rules/<rule name>` prefix, so
`topic(2)` is still the thing name (AWS IoT Developer Guide, "Reducing messaging costs with
Basic Ingest", https://docs.aws.amazon.com/iot/latest/developerguide/iot-basic-ingest.html).
The rule therefore has a fixed name a device can be told: `sensor_pipeline_telemetry`, with
`_<stage>` appended for a second stage (rule names are unique per account and region).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.config import PipelineSettings
from cdk_app.secure_defaults import acknowledge_wildcards, policy_of

TOPIC_ROOT = "sensors"
TELEMETRY_TOPIC_FILTER = f"{TOPIC_ROOT}/+/telemetry"
ALERTS_TOPIC_TEMPLATE = TOPIC_ROOT + "/{thing}/alerts"  # CONTRACTS.md "Threshold alerts"
THING_NAME = "${iot:Connection.Thing.ThingName}"  # an IoT policy variable, not a CFN Sub
RULE_BASE_NAME = "sensor_pipeline_telemetry"  # rule names: [a-zA-Z0-9_]{1,128}
BASIC_INGEST_PREFIX = "$aws/rules/"
# The rule never parses the payload (so it cannot fail on it): validation, with reasons, happens
# in the validator Lambda on the delivery streams. See CONTRACTS.md.
RULE_SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(2) AS thing_name, "
    f"timestamp() AS arrival_ms, clientid() AS client_id FROM '{TELEMETRY_TOPIC_FILTER}'"
)
RULE_ERROR_PREFIX = "errors/iot-rule/"


@dataclass(frozen=True)
class StreamConsumerProps:
    """What each part that reads the readings stream is given (raw delivery, search, alerting):
    the settings, the stream, and the data bucket it writes to."""

    settings: PipelineSettings
    stream: kinesis.IStream
    bucket: s3.IBucket


def telemetry_rule_name(settings: PipelineSettings) -> str:
    """`sensor_pipeline_telemetry`, or `sensor_pipeline_telemetry_<stage>`."""
    return settings.account_unique(RULE_BASE_NAME, separator="_")


def basic_ingest_topic(rule_name: str, thing: str) -> str:
    """The topic a device publishes its readings to: the rule's Basic Ingest topic."""
    return f"{BASIC_INGEST_PREFIX}{rule_name}/{TOPIC_ROOT}/{thing}/telemetry"


class Ingest(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: PipelineSettings,
        error_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        provisioned = settings.kinesis_stream_mode == "PROVISIONED"
        self.stream = kinesis.Stream(
            self,
            "Readings",
            stream_mode=(
                kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND
            ),
            shard_count=settings.kinesis_shard_count if provisioned else None,
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(settings.kinesis_retention_hours),
            # Records live at most kinesisRetentionHours, and a kept stream bills by the hour:
            # `cdk destroy` deletes it (CDK's default for a stream is RETAIN).
            removal_policy=RemovalPolicy.DESTROY,
        )

        # A thing's attributes: its place path and sensor model (cdk_app/devices.py).
        self.things = [
            iot.CfnThing(
                self,
                f"Thing{i}",
                thing_name=device.name,
                attribute_payload=iot.CfnThing.AttributePayloadProperty(
                    attributes=device.thing_attributes()
                )
                if device.thing_attributes()
                else None,
            )
            for i, device in enumerate(settings.devices)
        ]
        arn_prefix = f"arn:{stack.partition}:iot:{stack.region}:{stack.account}"
        self.rule_name = telemetry_rule_name(settings)
        # `{thing}` stands for the thing name: the device's `[mqtt] topic` setting.
        self.telemetry_topic_template = basic_ingest_topic(self.rule_name, "{thing}")
        own_alerts = ALERTS_TOPIC_TEMPLATE.format(thing=THING_NAME)
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ConnectAsOwnThingOnly",
                        "Effect": "Allow",
                        "Action": "iot:Connect",
                        "Resource": f"{arn_prefix}:client/{THING_NAME}",
                        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                    },
                    {
                        # Only through Basic Ingest, to this stack's rule, as its own thing.
                        "Sid": "PublishOwnTelemetryOnly",
                        "Effect": "Allow",
                        "Action": "iot:Publish",
                        "Resource": f"{arn_prefix}:topic/"
                        + basic_ingest_topic(self.rule_name, THING_NAME),
                    },
                    {
                        "Sid": "SubscribeOwnAlertsOnly",
                        "Effect": "Allow",
                        "Action": "iot:Subscribe",
                        "Resource": f"{arn_prefix}:topicfilter/{own_alerts}",
                    },
                    {
                        "Sid": "ReceiveOwnAlertsOnly",
                        "Effect": "Allow",
                        "Action": "iot:Receive",
                        "Resource": f"{arn_prefix}:topic/{own_alerts}",
                    },
                ],
            },
        )

        self.rule_role = iam.Role(
            self,
            "RuleRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="Lets the telemetry topic rule put to the readings stream only",
        )
        self.rule = iot.CfnTopicRule(
            self,
            "TelemetryRule",
            rule_name=self.rule_name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=RULE_SQL,
                aws_iot_sql_version="2016-03-23",
                rule_disabled=False,
                description="Device telemetry to Kinesis, partitioned by device",
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        kinesis=iot.CfnTopicRule.KinesisActionProperty(
                            stream_name=self.stream.stream_name,
                            partition_key="${topic(2)}",
                            role_arn=self.rule_role.role_arn,
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    s3=iot.CfnTopicRule.S3ActionProperty(
                        bucket_name=error_bucket.bucket_name,
                        key=RULE_ERROR_PREFIX + "${timestamp()}-${newuuid()}.json",
                        role_arn=self.rule_role.role_arn,
                    )
                ),
            ),
        )
        # Exactly one stream, exactly one error prefix: nothing wider.
        self.rule_role.add_to_policy(
            iam.PolicyStatement(actions=["kinesis:PutRecord"], resources=[self.stream.stream_arn])
        )
        self.rule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[error_bucket.arn_for_objects(f"{RULE_ERROR_PREFIX}*")],
            )
        )
        # The role's policy must exist before the rule, or IoT reports "unable to assume role".
        self.rule.node.add_dependency(policy_of(self.rule_role))
        acknowledge_wildcards(
            self.rule_role,
            "The error action may write only below errors/iot-rule/ of the data bucket.",
            reviewed=["Resource::<StorageData6BB23F4E.Arn>/errors/iot-rule/*"],
        )
