"""Firehose #1: the Kinesis stream to S3 `raw/`, GZIP JSON lines, validated on the way."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.config import PipelineSettings
from cdk_app.ingest import StreamConsumerProps
from cdk_app.secure_defaults import (
    LOG_STREAMS,
    acknowledge,
    acknowledge_wildcards,
    log_group,
    log_streams_arn,
    policy_of,
    python_function,
)
from cdk_app.storage import ERRORS_PREFIX, RAW_PREFIX

RAW_DATA_PREFIX = RAW_PREFIX + "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
RAW_ERROR_PREFIX = (
    ERRORS_PREFIX + "!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
)
INVALID_PREFIX = ERRORS_PREFIX + "invalid/"


def firehose_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    stack = Stack.of(scope)
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal(
            "firehose.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ),
        description=description,
    )


def allow_kinesis_source(role: iam.Role, stream: kinesis.IStream) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=[
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            resources=[stream.stream_arn],
        )
    )


def kinesis_delivery_stream(
    scope: Construct,
    construct_id: str,
    stream: kinesis.IStream,
    role: iam.Role,
    **destination: Any,
) -> firehose.CfnDeliveryStream:
    """A Firehose stream that reads `stream` as `role` (see allow_kinesis_source) and delivers to
    the `..._destination_configuration` in `destination`. Firehose checks its role when the
    stream is created: the role's policy must exist first."""
    delivery_stream = firehose.CfnDeliveryStream(
        scope,
        construct_id,
        delivery_stream_type="KinesisStreamAsSource",
        kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
            kinesis_stream_arn=stream.stream_arn, role_arn=role.role_arn
        ),
        **destination,
    )
    delivery_stream.node.add_dependency(policy_of(role))
    return delivery_stream


def allow_logging(role: iam.Role, group: logs.LogGroup) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:PutLogEvents"],
            resources=[log_streams_arn(group)],
        )
    )


def allow_s3_delivery(role: iam.Role, bucket: s3.IBucket, prefixes: list[str]) -> None:
    """What Firehose needs to write objects, limited to the given key prefixes."""
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            resources=[bucket.bucket_arn],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    )


def lambda_processing(
    function: lambda_.IFunction,
) -> firehose.CfnDeliveryStream.ProcessingConfigurationProperty:
    return firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
        enabled=True,
        processors=[
            firehose.CfnDeliveryStream.ProcessorProperty(
                type="Lambda",
                parameters=[
                    firehose.CfnDeliveryStream.ProcessorParameterProperty(
                        parameter_name="LambdaArn", parameter_value=function.function_arn
                    ),
                    firehose.CfnDeliveryStream.ProcessorParameterProperty(
                        parameter_name="NumberOfRetries", parameter_value="3"
                    ),
                    firehose.CfnDeliveryStream.ProcessorParameterProperty(
                        parameter_name="BufferSizeInMBs", parameter_value="1"
                    ),
                    firehose.CfnDeliveryStream.ProcessorParameterProperty(
                        parameter_name="BufferIntervalInSeconds", parameter_value="60"
                    ),
                ],
            )
        ],
    )


def validator_function(
    scope: Construct,
    construct_id: str,
    settings: PipelineSettings,
    *,
    output_format: str,
    invalid_records: str,
    error_bucket: s3.IBucket,
    vpc_props: dict[str, object] | None = None,
) -> lambda_.Function:
    """The Firehose transformation Lambda (lambdas/validator), configured for one stream."""
    return python_function(
        scope,
        construct_id,
        folder="validator",
        description=f"Validates readings for Firehose ({output_format})",
        environment={
            "OUTPUT_FORMAT": output_format,
            "INVALID_RECORDS": invalid_records,
            "ERROR_BUCKET": error_bucket.bucket_name,
            "ERROR_PREFIX": INVALID_PREFIX,
            **settings.readings_window_env(),
            "POWERTOOLS_METRICS_NAMESPACE": "SensorPipeline",
        },
        timeout=Duration.minutes(1),
        settings=settings,
        vpc_props=vpc_props,
    )


class RawDelivery(Construct):
    """Kinesis -> validator -> S3 raw/dt=.../hour=.../ (arrival time), GZIP, one line a reading."""

    def __init__(self, scope: Construct, construct_id: str, props: StreamConsumerProps) -> None:
        super().__init__(scope, construct_id)
        settings, stream, bucket = props.settings, props.stream, props.bucket
        self.validator = validator_function(
            self,
            "Validator",
            settings,
            output_format="s3-lines",
            invalid_records="write",
            error_bucket=bucket,
        )
        self.validator.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{INVALID_PREFIX}*")]
            )
        )
        acknowledge_wildcards(
            self.validator.role,  # type: ignore[arg-type]
            "The validator may put objects only below errors/invalid/ of the data bucket.",
            reviewed=["Resource::<StorageData6BB23F4E.Arn>/errors/invalid/*"],
        )
        self.logs = log_group(self, "DeliveryLogs", settings.log_retention_days)
        self.log_stream = logs.LogStream(
            self, "S3Delivery", log_group=self.logs, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = firehose_role(self, "Role", "Delivers readings from Kinesis to S3 raw/")
        allow_kinesis_source(self.role, stream)
        allow_s3_delivery(self.role, bucket, [RAW_PREFIX, ERRORS_PREFIX])
        allow_logging(self.role, self.logs)
        self.validator.grant_invoke(self.role)

        self.delivery_stream = kinesis_delivery_stream(
            self,
            "ToS3",
            stream,
            self.role,
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=self.role.role_arn,
                prefix=RAW_DATA_PREFIX,
                error_output_prefix=RAW_ERROR_PREFIX,
                compression_format="GZIP",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=settings.raw_buffer_seconds,
                    size_in_m_bs=settings.raw_buffer_mib,
                ),
                processing_configuration=lambda_processing(self.validator),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.logs.log_group_name,
                    log_stream_name=self.log_stream.log_stream_name,
                ),
                s3_backup_mode="Disabled",
            ),
        )
        acknowledge_wildcards(
            self.role,
            "Firehose writes objects only below raw/ and errors/, writes to log streams of its "
            "own delivery log group, and invokes its validator (<arn>:* are its versions).",
            reviewed=[
                "Resource::<RawDeliveryValidator194E05F3.Arn>:*",
                "Resource::<StorageData6BB23F4E.Arn>/errors/*",
                "Resource::<StorageData6BB23F4E.Arn>/raw/*",
                "Resource::" + LOG_STREAMS.format("RawDeliveryDeliveryLogsA863F7D5"),
            ],
        )
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "A delivery stream whose source is a Kinesis stream cannot set its own server-side "
            "encryption; the source stream is encrypted and the bucket encrypts every object.",
        )
