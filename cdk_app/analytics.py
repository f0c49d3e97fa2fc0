"""Glue and Athena: the database, the raw and compacted tables (partition projection, so no
crawler and no MSCK REPAIR), the device registry's table, the workgroup, and the SQL in athena/
as named queries.

The table `devices` (one row per device of `deviceNames`: its place and sensor model) reads one
JSON-lines object, `devices/devices.json` in the data bucket, which a custom resource writes on
every deploy from the text computed here at synth (lambdas/device_registry)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.config import PipelineSettings
from cdk_app.devices import registry_json_lines
from cdk_app.secure_defaults import (
    ROOT,
    acknowledge_provider_framework,
    acknowledge_wildcards,
    log_group,
    python_function,
)
from cdk_app.storage import (
    ALERTS_PREFIX,
    COMPACTED_PREFIX,
    DEVICES_KEY,
    DEVICES_PREFIX,
    RAW_PREFIX,
)

DATABASE = "sensor_pipeline"
RAW_TABLE = "raw_readings"
COMPACTED_TABLE = "readings"
ALERTS_TABLE = "alerts"
DEVICES_TABLE = "devices"
WORKGROUP = "sensor-pipeline"
# What a role needs in the Glue catalog to query a table with Athena (compactor, QuickSight).
GLUE_READ_ACTIONS = [
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartition",
    "glue:GetPartitions",
]
SQL_DIR = ROOT / "athena"

_MEASURES = ("temperature", "humidity", "pressure", "cpu_temp", "temperature_raw")
_ORIENTATION = ("pitch", "roll", "yaw")


def _double(name: str) -> glue.Column:
    return glue.Column(name=name, type=glue.Schema.DOUBLE)


RAW_COLUMNS = [
    glue.Column(name="schema", type=glue.Schema.INTEGER),
    glue.Column(name="device_id", type=glue.Schema.STRING),
    glue.Column(name="seq", type=glue.Schema.BIG_INT),
    glue.Column(name="ts", type=glue.Schema.STRING, comment="UTC ISO-8601 with ms, as sent"),
    *[_double(n) for n in (*_MEASURES, *_ORIENTATION)],
    glue.Column(name="flags", type=glue.Schema.array(glue.Schema.STRING)),
    glue.Column(name="thing_name", type=glue.Schema.STRING, comment="from the MQTT topic"),
    glue.Column(name="arrival_ms", type=glue.Schema.BIG_INT, comment="IoT Core arrival, ms"),
]
COMPACTED_COLUMNS = [
    glue.Column(name="device_id", type=glue.Schema.STRING),
    glue.Column(name="seq", type=glue.Schema.BIG_INT),
    glue.Column(name="ts", type=glue.Schema.TIMESTAMP),
    *[_double(n) for n in (*_MEASURES, *_ORIENTATION)],
    glue.Column(name="flags", type=glue.Schema.array(glue.Schema.STRING)),
    glue.Column(name="arrival_ts", type=glue.Schema.TIMESTAMP),
    glue.Column(name="batch_id", type=glue.Schema.STRING),
]

ALERT_COLUMNS = [
    glue.Column(name="schema", type=glue.Schema.INTEGER),
    glue.Column(name="alert_id", type=glue.Schema.STRING, comment="device_id:metric:seq"),
    glue.Column(name="device_id", type=glue.Schema.STRING),
    glue.Column(name="metric", type=glue.Schema.STRING),
    glue.Column(name="level", type=glue.Schema.STRING, comment="normal, warning, critical"),
    glue.Column(name="previous_level", type=glue.Schema.STRING),
    glue.Column(name="transition", type=glue.Schema.STRING, comment="raised, lowered, recovered"),
    glue.Column(name="side", type=glue.Schema.STRING, comment="high or low"),
    _double("value"),
    _double("threshold"),
    _double("hysteresis"),
    glue.Column(name="threshold_source", type=glue.Schema.STRING),
    glue.Column(name="seq", type=glue.Schema.BIG_INT),
    glue.Column(name="ts", type=glue.Schema.STRING, comment="the reading's time"),
    glue.Column(name="evaluated_at", type=glue.Schema.STRING),
    glue.Column(name="device_level", type=glue.Schema.STRING),
]

DEVICE_COLUMNS = [
    glue.Column(name="device_id", type=glue.Schema.STRING, comment="the thing name"),
    *[
        glue.Column(name=level, type=glue.Schema.STRING)
        for level in ("site", "building", "floor", "room", "sensor")
    ],
    glue.Column(name="place", type=glue.Schema.STRING, comment="site/building/floor/room"),
]


def named_queries() -> list[tuple[str, str, str]]:
    """(name, description, SQL) for every athena/*.sql file; the first `--` line describes it."""
    queries = []
    for path in sorted(Path(SQL_DIR).glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        first = sql.splitlines()[0] if sql else ""
        if not first.startswith("--"):
            raise ValueError(f"{path}: the first line must be a `-- description` comment")
        queries.append((path.stem, first.lstrip("- ").strip(), sql))
    return queries


class Analytics(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        settings: PipelineSettings,
        bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database_name = settings.account_unique(DATABASE, "_")
        self.raw_table_name = RAW_TABLE
        self.compacted_table_name = COMPACTED_TABLE
        self.workgroup_name = settings.account_unique(WORKGROUP)

        self.database = glue.Database(
            self,
            "Database",
            database_name=self.database_name,
            removal_policy=RemovalPolicy.DESTROY,
        )
        start = settings.projection_start_date
        self.raw_table = glue.S3Table(
            self,
            "RawTable",
            table_name=RAW_TABLE,
            description="Readings as Firehose landed them (JSON lines, GZIP), by arrival hour",
            database=self.database,
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=RAW_PREFIX,
            data_format=glue.DataFormat.JSON,
            columns=RAW_COLUMNS,
            partition_keys=[
                glue.Column(name="dt", type=glue.Schema.STRING),
                glue.Column(name="hour", type=glue.Schema.INTEGER),
            ],
            partition_projection={
                "dt": glue.PartitionProjectionConfiguration.date(
                    min=start, max="NOW", format="yyyy-MM-dd"
                ),
                "hour": glue.PartitionProjectionConfiguration.integer(min=0, max=23, digits=2),
            },
            parameters={
                "storage.location.template": f"s3://{bucket.bucket_name}/{RAW_PREFIX}"
                "dt=${dt}/hour=${hour}/",
            },
        )
        self.compacted_table = self._daily_table(
            "CompactedTable",
            COMPACTED_TABLE,
            "Compacted readings (Parquet), one row per (device_id, seq)",
            bucket,
            COMPACTED_PREFIX,
            glue.DataFormat.PARQUET,
            COMPACTED_COLUMNS,
            start,
        )
        self.alerts_table_name = ALERTS_TABLE
        self.alerts_table = self._daily_table(
            "AlertsTable",
            ALERTS_TABLE,
            "Threshold alert history: one row per transition, by the reading's date",
            bucket,
            ALERTS_PREFIX,
            glue.DataFormat.JSON,
            ALERT_COLUMNS,
            start,
        )

        self.devices_table_name = DEVICES_TABLE
        self.devices_table = glue.S3Table(
            self,
            "DevicesTable",
            table_name=DEVICES_TABLE,
            description="The device registry (deviceNames): each device's place and sensor model",
            database=self.database,
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=DEVICES_PREFIX,
            data_format=glue.DataFormat.JSON,
            columns=DEVICE_COLUMNS,
        )
        self._registry_object(settings, bucket)

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description="Sensor pipeline queries: enforced result location and scan cutoff",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff_mib * 1024**2,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/athena/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_query_ids: dict[str, str] = {}
        for name, description, sql in named_queries():
            self.named_query_ids[name] = athena.CfnNamedQuery(
                self,
                f"Query-{name}",
                name=name,
                description=description[:1024],
                database=self.database_name,
                query_string=sql,
                work_group=self.workgroup.ref,
            ).ref

    def _registry_object(self, settings: PipelineSettings, bucket: s3.IBucket) -> None:
        """The custom resource that writes the registry's object on every deploy."""
        self.registry_fn = python_function(
            self,
            "DeviceRegistry",
            folder="device_registry",
            description="Writes the device registry (Glue table devices) to the data bucket",
            environment={},
            timeout=Duration.minutes(1),
            settings=settings,
        )
        self.registry_fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[bucket.arn_for_objects(DEVICES_KEY)],
            )
        )
        provider = cr.Provider(
            self,
            "DeviceRegistryProvider",
            on_event_handler=self.registry_fn,
            log_group=log_group(self, "DeviceRegistryProviderLogs", settings.log_retention_days),
        )
        acknowledge_wildcards(
            self.registry_fn.role,  # type: ignore[arg-type]
            "Writes only to its own log group (its Arn ends in :*, its log streams).",
            reviewed=[],
        )
        acknowledge_provider_framework(
            provider, "the registry function", "<AnalyticsDeviceRegistry324DADEA.Arn>"
        )
        self.registry = CustomResource(
            self,
            "DeviceRegistryObject",
            service_token=provider.service_token,
            resource_type="Custom::DeviceRegistry",
            properties={
                "Bucket": bucket.bucket_name,
                "Key": DEVICES_KEY,
                "JsonLines": registry_json_lines(settings.devices),
            },
        )

    def _daily_table(
        self,
        construct_id: str,
        name: str,
        description: str,
        bucket: s3.IBucket,
        prefix: str,
        data_format: glue.DataFormat,
        columns: list[glue.Column],
        start: str,
    ) -> glue.S3Table:
        """A table below `prefix`, partitioned by `dt` (a date) with partition projection."""
        return glue.S3Table(
            self,
            construct_id,
            table_name=name,
            description=description,
            database=self.database,
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=prefix,
            data_format=data_format,
            columns=columns,
            partition_keys=[glue.Column(name="dt", type=glue.Schema.STRING)],
            partition_projection={
                "dt": glue.PartitionProjectionConfiguration.date(
                    min=start, max="NOW+1DAYS", format="yyyy-MM-dd"
                ),
            },
            parameters={
                "storage.location.template": f"s3://{bucket.bucket_name}/{prefix}dt=${{dt}}/",
            },
        )
