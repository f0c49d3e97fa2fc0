"""Every setting of the pipeline, read once from the CDK context (cdk.json, or `-c key=value`).

This is the only place a setting is defined. The stacks read it from here; the local cloud reads
the synthesized templates, which carry the same values.

A profile (`-c profile=small`, the default, or `-c profile=fleet`) gives the defaults of the
settings that size the stack: cdk.json's `profiles.<name>` holds them, and those keys are not at
the top of cdk.json's context, so a `-c key=value` of one of them wins over the profile.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from typing import Any, Protocol

from cdk_app.devices import Device, RegistryError, parse_registry
from cdk_app.lambda_code import lambda_module

STREAM_MODES = ("ON_DEMAND", "PROVISIONED")
PROFILE_KEY = "profile"
PROFILES_KEY = "profiles"
INDEX_ROTATIONS = ("NoRotation", "OneHour", "OneDay", "OneWeek", "OneMonth")
# Powertools Logger levels (POWERTOOLS_LOG_LEVEL) and Lambda's system log levels.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
MAX_THRESHOLDS_JSON = 2048
STACK_ID = "SensorPipeline"
STAGE = re.compile(r"^([a-z][a-z0-9]{0,15})?$")
QUICKSIGHT_PRINCIPAL = re.compile(
    r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/[^/\s]+/[^\s]+$"
)


# Settings whose context key is not their field's name in camel case.
RENAMED = {"devices": "deviceNames"}


class ContextSource(Protocol):
    """What `Construct.node` offers: a context lookup."""

    def try_get_context(self, key: str) -> Any: ...


class SettingError(ValueError):
    """A context setting is missing or has a value the pipeline cannot use."""


@dataclass(frozen=True)
class PipelineSettings:
    devices: tuple[Device, ...]  # context `deviceNames`: the registry (cdk_app/devices.py)
    compaction_threshold: int
    compaction_max_age_minutes: int
    compaction_schedule_minutes: int
    raw_buffer_seconds: int
    raw_buffer_mib: int
    search_buffer_seconds: int
    search_buffer_mib: int
    raw_retention_days: int
    error_retention_days: int
    query_results_expiry_days: int
    kinesis_stream_mode: str
    kinesis_shard_count: int
    kinesis_retention_hours: int
    search_index_name: str
    search_index_rotation: str
    search_instance_type: str
    search_instance_count: int
    search_volume_gib: int
    search_engine_version: str
    interface_endpoint_zones: int
    athena_bytes_scanned_cutoff_mib: int
    alarm_email: str
    alarm_iterator_age_seconds: int
    alarm_freshness_seconds: int
    alarm_lambda_errors: int
    alarm_rule_errors: int
    log_retention_days: int
    powertools_layer_version: int
    dashboards_bastion: bool
    projection_start_date: str
    readings_max_future_minutes: int
    search_index_retention_days: int
    quicksight_principal_arn: str
    alert_thresholds: dict[str, Any]
    alert_email: str
    alert_threshold_cache_seconds: int
    alert_history_retention_days: int
    alerter_batch_size: int
    alerter_batching_window_seconds: int
    lambda_log_level: str
    lambda_system_log_level: str
    stage: str
    retain_data: bool
    quality_metric_per_device: bool
    profile: str

    @classmethod
    def from_context(cls, node: ContextSource) -> PipelineSettings:
        """Read and validate every setting; a bad value raises SettingError naming the key.

        A setting given in the context (cdk.json's top level or `-c`) wins; else the profile's."""
        defaults = profile_defaults(node)
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = context_key(field.name)
            raw = node.try_get_context(key)
            if raw is None:
                raw = defaults.get(key)
            if raw is None:
                raise SettingError(f"context setting '{key}' is missing (see cdk.json)")
            if str(field.type) == "tuple[Device, ...]":
                values[field.name] = _registry(raw)
            else:
                values[field.name] = _coerce(key, raw, str(field.type))
        settings = cls(**values)
        settings.validate()
        return settings

    @property
    def device_names(self) -> tuple[str, ...]:
        return tuple(device.name for device in self.devices)

    def validate(self) -> None:
        if self.kinesis_stream_mode not in STREAM_MODES:
            raise SettingError(f"context setting 'kinesisStreamMode' must be one of {STREAM_MODES}")
        if self.search_index_rotation not in INDEX_ROTATIONS:
            raise SettingError(
                f"context setting 'searchIndexRotation' must be one of {INDEX_ROTATIONS}"
            )
        compactor = lambda_module("compactor", "compactor.settings")
        _check_range(
            "compactionThreshold",
            self.compaction_threshold,
            compactor.MIN_THRESHOLD,
            compactor.MAX_THRESHOLD,
            compactor.THRESHOLD_BOUNDS,
        )
        _check_range("compactionMaxAgeMinutes", self.compaction_max_age_minutes, 1, 24 * 60)
        _check_range("compactionScheduleMinutes", self.compaction_schedule_minutes, 1, 60)
        # Firehose limits: S3 buffer 60-900 s and 1-128 MiB; OpenSearch 0-900 s and 1-100 MiB.
        _check_range("rawBufferSeconds", self.raw_buffer_seconds, 0, 900)
        _check_range("rawBufferMiB", self.raw_buffer_mib, 1, 128)
        _check_range("searchBufferSeconds", self.search_buffer_seconds, 0, 900)
        _check_range("searchBufferMiB", self.search_buffer_mib, 1, 100)
        _check_range("rawRetentionDays", self.raw_retention_days, 1, 3650)
        _check_range("errorRetentionDays", self.error_retention_days, 1, 3650)
        _check_range("queryResultsExpiryDays", self.query_results_expiry_days, 1, 3650)
        _check_range("kinesisShardCount", self.kinesis_shard_count, 1, 500)
        _check_range("kinesisRetentionHours", self.kinesis_retention_hours, 24, 8760)
        _check_range("searchInstanceCount", self.search_instance_count, 1, 80)
        # The VPC has two availability zones (cdk_app/search.py).
        _check_range("interfaceEndpointZones", self.interface_endpoint_zones, 1, 2)
        _check_range("searchVolumeGiB", self.search_volume_gib, 10, 16384)
        _check_range("athenaBytesScannedCutoffMiB", self.athena_bytes_scanned_cutoff_mib, 10, 10**8)
        if not re.match(r"^[a-z][a-z0-9_-]{0,200}$", self.search_index_name):
            raise SettingError(
                "context setting 'searchIndexName' must be a lower-case OpenSearch index name"
            )
        _check_range("logRetentionDays", self.log_retention_days, 1, 3653)
        _check_range("powertoolsLayerVersion", self.powertools_layer_version, 1, 10_000)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", self.projection_start_date):
            raise SettingError("context setting 'projectionStartDate' must be a date YYYY-MM-DD")
        # The compacted table's projection reaches NOW+1DAYS: a later reading would be invisible.
        _check_range("readingsMaxFutureMinutes", self.readings_max_future_minutes, 1, 24 * 60)
        _check_range("searchIndexRetentionDays", self.search_index_retention_days, 1, 3650)
        if self.quicksight_principal_arn and not QUICKSIGHT_PRINCIPAL.match(
            self.quicksight_principal_arn
        ):
            raise SettingError(
                "context setting 'quicksightPrincipalArn' must be empty (no QuickSight) or the "
                "ARN of a QuickSight user or group (arn:aws:quicksight:<region>:<account>:user/...)"
            )
        for key, email in (("alarmEmail", self.alarm_email), ("alertEmail", self.alert_email)):
            if email and "@" not in email:
                raise SettingError(f"context setting '{key}' must be an e-mail address or empty")
        _check_range("alertThresholdCacheSeconds", self.alert_threshold_cache_seconds, 0, 3600)
        _check_range("alertHistoryRetentionDays", self.alert_history_retention_days, 1, 3650)
        # Lambda's Kinesis event source: 1-10,000 records a batch, waits at most 300 s to fill it.
        _check_range("alerterBatchSize", self.alerter_batch_size, 1, 10_000)
        _check_range("alerterBatchingWindowSeconds", self.alerter_batching_window_seconds, 0, 300)
        _check_choice("lambdaLogLevel", self.lambda_log_level, LOG_LEVELS)
        _check_choice("lambdaSystemLogLevel", self.lambda_system_log_level, SYSTEM_LOG_LEVELS)
        if not STAGE.match(self.stage):
            raise SettingError(
                "context setting 'stage' must be empty or 1-16 lower-case letters and digits, "
                f"starting with a letter (it goes into Glue, Athena and stack names), got "
                f"{self.stage!r}"
            )
        self.threshold_config()

    def threshold_config(self) -> Any:
        """The context's `alertThresholds`, checked by the alerter's own rules."""
        thresholds = lambda_module("alerter", "alerter.thresholds")
        try:
            config = thresholds.ThresholdConfig.from_context(self.alert_thresholds)
        except thresholds.ThresholdError as err:
            raise SettingError(f"context setting {err}") from err
        scopes = {scope for scope, _ in config.sets}
        places = {s for s in scopes if s.startswith(thresholds.PLACE_SCOPE)}
        unknown = sorted(scopes - places - {thresholds.ALL_DEVICES, *self.device_names})
        if unknown:
            raise SettingError(
                f"context setting 'alertThresholds.devices' names devices not in 'deviceNames': "
                f"{', '.join(unknown)} (use the threshold table for devices made elsewhere)"
            )
        known = {s for d in self.devices for s in thresholds.place_scopes(d.place_path)}
        nowhere = sorted(p[len(thresholds.PLACE_SCOPE) :] for p in places - known)
        if nowhere:
            raise SettingError(
                "context setting 'alertThresholds.places' names places no device of "
                f"'deviceNames' is in: {', '.join(nowhere)} (a place is site/building/floor/room "
                "as far as given, e.g. home/main/0/kitchen)"
            )
        if len(self.thresholds_json()) > MAX_THRESHOLDS_JSON:
            raise SettingError(
                f"context setting 'alertThresholds' is over {MAX_THRESHOLDS_JSON} characters as "
                "JSON (it travels in the alerter's environment, 4 KiB in all); keep per-device "
                "sets in the threshold table instead (see README, Threshold alerts)"
            )
        return config

    def stack_id(self) -> str:
        """`SensorPipeline`, or `SensorPipeline-<stage>`: two stages deploy side by side."""
        return f"{STACK_ID}-{self.stage}" if self.stage else STACK_ID

    def account_unique(self, name: str, separator: str = "-") -> str:
        """An account-unique resource name (Glue database, Athena workgroup) for this stage."""
        return f"{name}{separator}{self.stage}" if self.stage else name

    def readings_window_env(self) -> dict[str, str]:
        """The plausible `ts` window, for every Lambda that validates readings."""
        return {
            "READINGS_EARLIEST_DATE": self.projection_start_date,
            "READINGS_MAX_FUTURE_MINUTES": str(self.readings_max_future_minutes),
        }

    def lambda_log_levels(self) -> tuple[str, str]:
        """(Powertools Logger level, Lambda system log level) of every function."""
        return self.lambda_log_level, self.lambda_system_log_level

    def thresholds_json(self) -> str:
        return json.dumps(self.alert_thresholds, separators=(",", ":"), sort_keys=True)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(f"context setting '{key}' must be one of {choices}, got {value!r}")


def profile_defaults(node: ContextSource) -> dict[str, Any]:
    """The defaults of the profile the context names (`profile`, from cdk.json or `-c`)."""
    name = node.try_get_context(PROFILE_KEY)
    profiles = node.try_get_context(PROFILES_KEY)
    if name is None or profiles is None:
        return {}
    if isinstance(profiles, str):  # `-c profiles=...` arrives as a string
        profiles = json.loads(profiles)
    if not isinstance(profiles, dict) or str(name) not in profiles:
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
        raise SettingError(f"context setting 'profile' must be one of: {known}, got {name!r}")
    return dict(profiles[str(name)])


def context_key(field_name: str) -> str:
    """`compaction_threshold` -> `compactionThreshold`; `raw_buffer_mib` -> `rawBufferMiB`."""
    if field_name in RENAMED:
        return RENAMED[field_name]
    head, *rest = field_name.split("_")
    words = [{"mib": "MiB", "gib": "GiB"}.get(w, w.capitalize()) for w in rest]
    return head + "".join(words)


def _registry(raw: Any) -> tuple[Device, ...]:
    try:
        return parse_registry(raw)
    except RegistryError as err:
        raise SettingError(str(err)) from err
    except ValueError as err:  # `-c deviceNames=[...` that is not JSON
        raise SettingError(f"context setting 'deviceNames': {raw!r} is not valid: {err}") from err


def _coerce(key: str, raw: Any, type_name: str) -> Any:
    """Context values from `-c key=value` arrive as strings; from cdk.json as JSON values."""
    try:
        if type_name == "int":
            if isinstance(raw, bool):
                raise TypeError("a boolean is not a number")
            return int(raw)
        if type_name == "str":
            return str(raw)
        if type_name == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"true", "false"}:
                return str(raw).lower() == "true"
            raise ValueError("expected true or false")
        if type_name == "dict[str, Any]":
            value = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(value, dict):
                raise TypeError("expected a JSON object")
            return value
        if type_name == "tuple[str, ...]":
            if isinstance(raw, str):
                raw = json.loads(raw) if raw.startswith("[") else raw.split(",")
            return tuple(str(item).strip() for item in raw)
    except (TypeError, ValueError) as err:
        raise SettingError(f"context setting '{key}': {raw!r} is not a valid {type_name}") from err
    raise SettingError(f"context setting '{key}' has an unsupported type {type_name}")


def _check_range(key: str, value: int, low: int, high: int, why: str = "") -> None:
    if not low <= value <= high:
        reason = f" ({why})" if why else ""
        raise SettingError(
            f"context setting '{key}' must be between {low} and {high}{reason}, got {value}"
        )
