"""Compaction wiring: S3 ObjectCreated on raw/ and a schedule invoke the compactor Lambda, which
keeps its state in DynamoDB and compacts batches with Athena CTAS (see lambdas/compactor)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from cdk_app.analytics import GLUE_READ_ACTIONS, Analytics
from cdk_app.config import PipelineSettings
from cdk_app.secure_defaults import (
    acknowledge,
    acknowledge_wildcards,
    python_function,
    secure_table,
)
from cdk_app.storage import COMPACTED_PREFIX, RAW_PREFIX

TEMP_TABLE_PREFIX = "tmp_compaction_"
QUALITY_QUERY = "quality_hourly"
QUALITY_SETTLE_MARGIN_MINUTES = 5


def quality_settle_minutes(settings: PipelineSettings) -> int:
    """How long after an hour ends its readings are taken to be compacted: the Firehose buffer,
    the compaction tail's age, one schedule interval, and a margin for the batch to run."""
    return (
        -(-settings.raw_buffer_seconds // 60)
        + settings.compaction_max_age_minutes
        + settings.compaction_schedule_minutes
        + QUALITY_SETTLE_MARGIN_MINUTES
    )


def quality_environment(settings: PipelineSettings, analytics: Analytics) -> dict[str, str]:
    """The hourly QualityScore per device (compactor/quality.py): the named query
    athena/quality_hourly.sql, run once an hour's readings are compacted; with
    `qualityMetricPerDevice` false, nothing (the query stays a named query)."""
    if not settings.quality_metric_per_device:
        return {}
    return {
        "QUALITY_NAMED_QUERY_ID": analytics.named_query_ids[QUALITY_QUERY],
        "QUALITY_SETTLE_MINUTES": str(quality_settle_minutes(settings)),
    }


class Compaction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: PipelineSettings,
        bucket: s3.Bucket,
        results_bucket: s3.IBucket,
        analytics: Analytics,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.table = secure_table(
            self,
            "State",
            partition="pk",
            sort="sk",
            retain=settings.retain_data,
            time_to_live_attribute="ttl",
        )
        self.function = python_function(
            self,
            "Compactor",
            folder="compactor",
            description="Counts raw objects once and compacts each batch to Parquet with Athena",
            environment={
                "STATE_TABLE": self.table.table_name,
                "COMPACTION_THRESHOLD": str(settings.compaction_threshold),
                "COMPACTION_MAX_AGE_MINUTES": str(settings.compaction_max_age_minutes),
                "GLUE_DATABASE": analytics.database_name,
                "RAW_TABLE": analytics.raw_table_name,
                "COMPACTED_TABLE": analytics.compacted_table_name,
                "ATHENA_WORKGROUP": analytics.workgroup_name,
                "DATA_BUCKET": bucket.bucket_name,
                "RAW_PREFIX": RAW_PREFIX,
                "COMPACTED_PREFIX": COMPACTED_PREFIX,
                "POWERTOOLS_METRICS_NAMESPACE": "SensorPipeline",
                "COMPACTION_SCHEDULE_MINUTES": str(settings.compaction_schedule_minutes),
                **quality_environment(settings, analytics),
            },
            timeout=Duration.minutes(5),
            settings=settings,
        )
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=RAW_PREFIX),
        )
        self.schedule = events.Rule(
            self,
            "TailSchedule",
            description="Compacts the tail (old, fewer than threshold) and finishes stuck batches",
            schedule=events.Schedule.rate(Duration.minutes(settings.compaction_schedule_minutes)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )

        # Least privilege: state table; this workgroup; these tables; these prefixes.
        self.table.grant(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
            "dynamodb:ConditionCheckItem",
            "dynamodb:BatchWriteItem",
        )
        arn = f"arn:{stack.partition}"
        account = f"{stack.region}:{stack.account}"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                    "athena:GetNamedQuery",
                ],
                resources=[f"{arn}:athena:{account}:workgroup/{analytics.workgroup_name}"],
            )
        )
        db = analytics.database_name
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[*GLUE_READ_ACTIONS, "glue:CreateTable", "glue:DeleteTable"],
                resources=[
                    f"{arn}:glue:{account}:catalog",
                    f"{arn}:glue:{account}:database/{db}",
                    f"{arn}:glue:{account}:table/{db}/{analytics.raw_table_name}",
                    f"{arn}:glue:{account}:table/{db}/{analytics.compacted_table_name}",
                    f"{arn}:glue:{account}:table/{db}/{TEMP_TABLE_PREFIX}*",
                ],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket"],
                resources=[bucket.bucket_arn, results_bucket.bucket_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
                resources=[bucket.arn_for_objects(f"{RAW_PREFIX}*")],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                resources=[
                    bucket.arn_for_objects(f"{COMPACTED_PREFIX}*"),
                    results_bucket.arn_for_objects("*"),
                ],
            )
        )
        acknowledge_wildcards(
            self.function.role,  # type: ignore[arg-type]
            "Scoped to the pipeline: log streams of its own log group, raw objects below raw/ "
            "(read and tag), compacted output below compacted/, Athena results in the results "
            "bucket, and the temporary CTAS tables named tmp_compaction_*.",
            reviewed=[
                "Resource::<StorageData6BB23F4E.Arn>/compacted/*",
                "Resource::<StorageData6BB23F4E.Arn>/raw/*",
                "Resource::<StorageQueryResults8DE7DCEE.Arn>/*",
                "Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
                f"table/{analytics.database_name}/{TEMP_TABLE_PREFIX}*",
            ],
        )
        self._acknowledge_notifications_handler()

    def _acknowledge_notifications_handler(self) -> None:
        """CDK's singleton that configures S3 bucket notifications (one per stack)."""
        stack = Stack.of(self)
        for child in stack.node.children:
            if not child.node.id.startswith("BucketNotificationsHandler"):
                continue
            role = child.node.find_child("Role")
            acknowledge(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's bucket-notification handler: it writes only its own logs.",
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "CDK's bucket-notification handler needs s3:PutBucketNotification, which it "
                "scopes at run time to the bucket named in the custom resource.",
            )
