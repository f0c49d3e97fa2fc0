"""The alerter's settings, read once from the environment the stack sets (CONTRACTS.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerter.thresholds import ThresholdConfig, ThresholdError
from validator.reading import TimeWindow

DEFAULT_CACHE_SECONDS = 60
DEFAULT_TOPIC_TEMPLATE = "sensors/{thing}/alerts"


class SettingsError(ValueError):
    """An environment variable is missing or unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    threshold_table: str
    state_table: str
    defaults: ThresholdConfig
    cache_seconds: int
    alert_topic_arn: str
    data_bucket: str
    alerts_prefix: str
    mqtt_topic_template: str
    window: TimeWindow = field(default_factory=TimeWindow)
    device_registry_key: str = ""  # in data_bucket; empty: no device has a place

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        try:
            defaults = ThresholdConfig.from_json(
                env.get("DEFAULT_THRESHOLDS", ""), "DEFAULT_THRESHOLDS"
            )
        except ThresholdError as err:
            raise SettingsError(str(err)) from err
        raw_cache = env.get("THRESHOLD_CACHE_SECONDS", "").strip()
        try:
            cache_seconds = int(raw_cache) if raw_cache else DEFAULT_CACHE_SECONDS
        except ValueError as err:
            raise SettingsError(
                f"THRESHOLD_CACHE_SECONDS must be an integer, got {raw_cache!r}"
            ) from err
        if cache_seconds < 0:
            raise SettingsError(f"THRESHOLD_CACHE_SECONDS must be >= 0, got {cache_seconds}")
        prefix = env.get("ALERTS_PREFIX", "alerts/")
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise SettingsError(f"ALERTS_PREFIX must look like 'folder/', got {prefix!r}")
        template = env.get("ALERTS_TOPIC_TEMPLATE", DEFAULT_TOPIC_TEMPLATE)
        if template.count("{thing}") != 1 or any(c in template for c in "+#"):
            raise SettingsError(
                "ALERTS_TOPIC_TEMPLATE must name the thing once as {thing} and have no "
                f"wildcards, got {template!r}"
            )
        try:
            window = TimeWindow.from_env(env)
        except ValueError as err:
            raise SettingsError(str(err)) from err
        return cls(
            threshold_table=_required(env, "THRESHOLD_TABLE"),
            state_table=_required(env, "STATE_TABLE"),
            defaults=defaults,
            cache_seconds=cache_seconds,
            alert_topic_arn=_required(env, "ALERT_TOPIC_ARN"),
            data_bucket=_required(env, "DATA_BUCKET"),
            alerts_prefix=prefix,
            mqtt_topic_template=template,
            window=window,
            device_registry_key=env.get("DEVICE_REGISTRY_KEY", "").strip(),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value
