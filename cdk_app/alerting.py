"""Threshold alerts: a Lambda on the readings stream classifies each reading against threshold
sets (context defaults, run-time overrides in DynamoDB), and sends each transition to an SNS
topic, to the alert history in S3 (Glue table `alerts`), and back to the device on
`sensors/<thing>/alerts` (see lambdas/alerter and CONTRACTS.md "Threshold alerts")."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.ingest import ALERTS_TOPIC_TEMPLATE, StreamConsumerProps
from cdk_app.lambda_assets import READING_CONTRACT
from cdk_app.secure_defaults import (
    acknowledge,
    acknowledge_wildcards,
    encrypted_topic,
    python_function,
    secure_table,
)
from cdk_app.storage import ALERTS_PREFIX, DEVICES_KEY

RETRY_ATTEMPTS = 10


class Alerting(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: StreamConsumerProps) -> None:
        super().__init__(scope, construct_id)
        settings, stream, bucket = props.settings, props.stream, props.bucket
        stack = Stack.of(self)
        retain = settings.retain_data
        self.thresholds = secure_table(
            self, "Thresholds", partition="scope", sort="metric", retain=retain
        )
        self.state = secure_table(
            self, "State", partition="device_id", sort="metric", retain=retain
        )
        self.topic, _ = encrypted_topic(
            self,
            "Alerts",
            key_id="TopicKey",
            description="Encrypts the threshold alert topic",
            display_name="Sensor threshold alerts",
            email=settings.alert_email,
        )

        self.failed_batches = sqs.Queue(
            self,
            "FailedBatches",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.failed_batches,
            "AwsSolutions-SQS3",
            "This queue is the alerter's on-failure destination (it receives the shard and "
            "sequence range of batches that failed every retry); it is itself the dead letter "
            "queue.",
        )

        self.function = python_function(
            self,
            "Alerter",
            folder="alerter",
            description="Classifies readings against thresholds; sends alerts and recoveries",
            environment={
                "THRESHOLD_TABLE": self.thresholds.table_name,
                "STATE_TABLE": self.state.table_name,
                "DEFAULT_THRESHOLDS": settings.thresholds_json(),
                "THRESHOLD_CACHE_SECONDS": str(settings.alert_threshold_cache_seconds),
                "ALERT_TOPIC_ARN": self.topic.topic_arn,
                "DATA_BUCKET": bucket.bucket_name,
                "ALERTS_PREFIX": ALERTS_PREFIX,
                "ALERTS_TOPIC_TEMPLATE": ALERTS_TOPIC_TEMPLATE,
                "DEVICE_REGISTRY_KEY": DEVICES_KEY,  # where each device is (place thresholds)
                **settings.readings_window_env(),
                "POWERTOOLS_METRICS_NAMESPACE": "SensorPipeline",
            },
            timeout=Duration.minutes(1),
            settings=settings,
            shared=[READING_CONTRACT],  # validator.reading, validator.envelope
        )
        self.function.add_event_source(
            sources.KinesisEventSource(
                stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=settings.alerter_batch_size,
                max_batching_window=Duration.seconds(settings.alerter_batching_window_seconds),
                bisect_batch_on_error=True,
                retry_attempts=RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(self.failed_batches),
            )
        )

        # Least privilege: read thresholds, read and write state, this topic, these objects,
        # publishing (with retain) to the devices' alerts topics only.
        self.thresholds.grant(self.function, "dynamodb:Scan")
        self.state.grant(self.function, "dynamodb:Query", "dynamodb:PutItem")
        self.topic.grant_publish(self.function)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{ALERTS_PREFIX}*")]
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(DEVICES_KEY)]
            )
        )
        arn = f"arn:{stack.partition}:iot:{stack.region}:{stack.account}"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iot:Publish", "iot:RetainPublish"],
                resources=[f"{arn}:topic/{ALERTS_TOPIC_TEMPLATE.format(thing='*')}"],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["iot:DescribeEndpoint"], resources=["*"])
        )
        acknowledge_wildcards(
            self.function.role,  # type: ignore[arg-type]
            "Scoped to the alerts: log streams of its own log group, history objects below "
            "alerts/, publishing to sensors/<any thing>/alerts (one topic per device), the "
            "shard listing of the readings stream, KMS data keys of the alert topic's key, and "
            "iot:DescribeEndpoint, which has no resource-level permissions.",
            reviewed=[
                "Action::kms:GenerateDataKey*",
                "Resource::*",
                "Resource::<StorageData6BB23F4E.Arn>/alerts/*",
                "Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:"
                "topic/sensors/*/alerts",
            ],
        )
