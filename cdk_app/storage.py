"""S3: the data bucket (raw/, compacted/, errors/, alerts/), the Athena results bucket, and
access logs."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.config import PipelineSettings
from cdk_app.secure_defaults import acknowledge, data_removal, secure_bucket

RAW_PREFIX = "raw/"
COMPACTED_PREFIX = "compacted/"
ERRORS_PREFIX = "errors/"
ALERTS_PREFIX = "alerts/"
DEVICES_PREFIX = "devices/"  # the device registry's object (Glue table `devices`)
DEVICES_KEY = f"{DEVICES_PREFIX}devices.json"
# The compactor tags a raw object with this after the batch that read it has succeeded; only
# tagged raw objects expire, so lifecycle can never remove data that has not been compacted.
COMPACTED_TAG = ("compacted", "true")


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, settings: PipelineSettings) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            **data_removal(settings.retain_data),
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket of the data and results buckets; "
            "logging it into itself would loop.",
        )
        self.data = secure_bucket(
            self,
            "Data",
            access_logs=self.access_logs,
            retain=settings.retain_data,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-after-compaction",
                    prefix=RAW_PREFIX,
                    tag_filters={COMPACTED_TAG[0]: COMPACTED_TAG[1]},
                    expiration=Duration.days(settings.raw_retention_days),
                ),
                s3.LifecycleRule(
                    id="errors",
                    prefix=ERRORS_PREFIX,
                    expiration=Duration.days(settings.error_retention_days),
                ),
                s3.LifecycleRule(
                    id="alert-history",
                    prefix=ALERTS_PREFIX,
                    expiration=Duration.days(settings.alert_history_retention_days),
                ),
                s3.LifecycleRule(
                    id="incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
        )
        self.results = secure_bucket(
            self,
            "QueryResults",
            access_logs=self.access_logs,
            retain=settings.retain_data,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="results",
                    expiration=Duration.days(settings.query_results_expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
