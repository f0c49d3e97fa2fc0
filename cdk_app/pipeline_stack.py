"""The whole pipeline in one stack: one construct per concern."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.alerting import Alerting
from cdk_app.analytics import Analytics
from cdk_app.compaction import Compaction
from cdk_app.config import PipelineSettings
from cdk_app.delivery import RawDelivery
from cdk_app.ingest import Ingest, StreamConsumerProps
from cdk_app.monitoring import Monitoring
from cdk_app.quicksight import QuickSight
from cdk_app.search import Search
from cdk_app.storage import Storage


class SensorPipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = PipelineSettings.from_context(self.node)

        self.storage = Storage(self, "Storage", settings)
        self.ingest = Ingest(self, "Ingest", settings, error_bucket=self.storage.data)
        readers = StreamConsumerProps(settings, self.ingest.stream, self.storage.data)
        self.raw_delivery = RawDelivery(self, "RawDelivery", readers)
        self.search = Search(self, "Search", readers)
        self.analytics = Analytics(
            self, "Analytics", settings, self.storage.data, self.storage.results
        )
        self.compaction = Compaction(
            self,
            "Compaction",
            settings,
            self.storage.data,
            self.storage.results,
            self.analytics,
        )
        self.alerting = Alerting(self, "Alerting", readers)
        self.quicksight: QuickSight | None = None
        if settings.quicksight_principal_arn:  # opt-in: needs a QuickSight subscription
            self.quicksight = QuickSight(
                self,
                "QuickSight",
                settings.quicksight_principal_arn,
                self.analytics,
                self.storage.data,
                self.storage.results,
            )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            settings,
            stream=self.ingest.stream,
            raw_delivery_stream_name=self.raw_delivery.delivery_stream.ref,
            search_delivery_stream_name=self.search.delivery_stream.ref,
            functions={
                "Compactor": self.compaction.function,
                "RawValidator": self.raw_delivery.validator,
                "SearchValidator": self.search.validator,
                "SearchSetup": self.search.setup_fn,
                "Alerter": self.alerting.function,
            },
            failed_batch_queues={"AlerterFailedBatches": self.alerting.failed_batches},
            rule_name=self.ingest.rule.ref,
        )

        outputs = {
            "DataBucket": self.storage.data.bucket_name,
            "QueryResultsBucket": self.storage.results.bucket_name,
            "ReadingsStream": self.ingest.stream.stream_name,
            "DevicePolicy": self.ingest.device_policy.ref,
            "TopicRule": self.ingest.rule.ref,
            # Where a device publishes (Basic Ingest); `{thing}` is its thing name.
            "TelemetryTopic": self.ingest.telemetry_topic_template,
            "GlueDatabase": self.analytics.database_name,
            "AthenaWorkGroup": self.analytics.workgroup_name,
            "OpenSearchEndpoint": self.search.domain_endpoint,
            "OpenSearchMasterSecret": self.search.master_secret.secret_arn,
            "AlarmTopic": self.monitoring.topic.topic_arn,
            "AlertTopic": self.alerting.topic.topic_arn,
            "AlertThresholdTable": self.alerting.thresholds.table_name,
            "AlertStateTable": self.alerting.state.table_name,
            # `aws lambda invoke` it with {"action": "compact-pending"} to compact now.
            "CompactorFunction": self.compaction.function.function_name,
        }
        if self.search.tunnel is not None:
            outputs["DashboardsTunnelInstance"] = self.search.tunnel.instance_id
        if self.quicksight is not None:
            outputs["QuickSightDashboard"] = self.quicksight.dashboard.dashboard_id
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
