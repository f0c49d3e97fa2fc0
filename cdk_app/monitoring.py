"""Monitoring: alarms on every stage, notifying an SNS topic, and one CloudWatch dashboard."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app.config import PipelineSettings
from cdk_app.secure_defaults import encrypted_topic

PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: PipelineSettings,
        *,
        stream: kinesis.IStream,
        raw_delivery_stream_name: str,
        search_delivery_stream_name: str,
        functions: dict[str, lambda_.IFunction],
        rule_name: str,
        failed_batch_queues: dict[str, sqs.IQueue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic, key = encrypted_topic(
            self,
            "Alarms",
            key_id="AlarmTopicKey",
            description="Encrypts the pipeline alarm topic",
            display_name="Sensor pipeline alarms",
            email=settings.alarm_email,
        )
        # CloudWatch alarms publish to an encrypted topic only if they may use its key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            name: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            comparison: cloudwatch.ComparisonOperator,
            description: str,
            missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=1,
                treat_missing_data=missing,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)
            return created

        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        below = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD

        iterator_age = stream.metric_get_records_iterator_age_milliseconds(
            statistic="Maximum", period=PERIOD
        )
        alarm(
            "KinesisIteratorAge",
            iterator_age,
            settings.alarm_iterator_age_seconds * 1000,
            above,
            "A consumer of the readings stream is falling behind",
        )
        put_success = stream.metric_put_record_success(statistic="Average", period=PERIOD)
        throttled = cloudwatch.MathExpression(
            expression="read + write",
            using_metrics={
                "read": stream.metric_read_provisioned_throughput_exceeded(
                    statistic="Sum", period=PERIOD
                ),
                "write": stream.metric_write_provisioned_throughput_exceeded(
                    statistic="Sum", period=PERIOD
                ),
            },
            period=PERIOD,
            label="Throttled Kinesis requests",
        )
        alarm("KinesisThrottling", throttled, 0, above, "The readings stream throttles requests")

        def firehose_metric(stream_name: str, metric: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=metric,
                dimensions_map={"DeliveryStreamName": stream_name},
                statistic=statistic,
                period=PERIOD,
            )

        for label, name, destination in (
            ("Raw", raw_delivery_stream_name, "S3"),
            ("Search", search_delivery_stream_name, "AmazonOpenSearchService"),
        ):
            alarm(
                f"{label}DeliveryFailures",
                firehose_metric(name, f"DeliveryTo{destination}.Success", "Minimum"),
                1,
                below,
                f"Firehose could not deliver every batch to {destination}",
            )
            alarm(
                f"{label}DataFreshness",
                firehose_metric(name, f"DeliveryTo{destination}.DataFreshness", "Maximum"),
                settings.alarm_freshness_seconds,
                above,
                f"The oldest record waiting for {destination} is older than the threshold",
            )
            alarm(
                f"{label}TransformFailures",
                firehose_metric(name, "ExecuteProcessing.Success", "Minimum"),
                1,
                below,
                "The validator Lambda failed for a batch (records go to errors/)",
            )

        for label, function in functions.items():
            alarm(
                f"{label}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                settings.alarm_lambda_errors,
                at_least,
                f"The {label} function raised errors",
            )
            alarm(
                f"{label}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                1,
                at_least,
                f"The {label} function was throttled",
            )

        for label, queue in (failed_batch_queues or {}).items():
            alarm(
                label,
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                ),
                1,
                at_least,
                f"{label}: batches failed every retry and wait in the queue to be replayed",
            )

        for metric_name, description in (
            ("Failure", "The topic rule's Kinesis action failed (messages went to errors/)"),
            ("ErrorActionFailure", "The topic rule's error action failed: messages may be lost"),
        ):
            alarm(
                f"Rule{metric_name}",
                cloudwatch.Metric(
                    namespace="AWS/IoT",
                    metric_name=metric_name,
                    dimensions_map={"RuleName": rule_name},
                    statistic="Sum",
                    period=PERIOD,
                ),
                settings.alarm_rule_errors,
                at_least,
                description,
            )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Kinesis: incoming records and iterator age",
                left=[stream.metric_incoming_records(period=PERIOD, statistic="Sum")],
                right=[iterator_age, put_success],
            ),
            cloudwatch.GraphWidget(
                title="Firehose: records in, freshness",
                left=[
                    firehose_metric(raw_delivery_stream_name, "IncomingRecords", "Sum"),
                    firehose_metric(search_delivery_stream_name, "IncomingRecords", "Sum"),
                ],
                right=[
                    firehose_metric(
                        raw_delivery_stream_name, "DeliveryToS3.DataFreshness", "Maximum"
                    ),
                    firehose_metric(
                        search_delivery_stream_name,
                        "DeliveryToAmazonOpenSearchService.DataFreshness",
                        "Maximum",
                    ),
                ],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors and throttles",
                left=[f.metric_errors(period=PERIOD) for f in functions.values()],
                right=[f.metric_throttles(period=PERIOD) for f in functions.values()],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms),
        )
