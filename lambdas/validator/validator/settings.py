"""The validator's environment: read once per invocation, every variable checked.

| variable | values | meaning |
|---|---|---|
| `OUTPUT_FORMAT` | `s3-lines` / `search-documents` | `Ok` data ends with a newline / does not |
| `INVALID_RECORDS` | `write` / `drop` | write invalid records to S3, then drop / only drop |
| `ERROR_BUCKET` | bucket name | required with `INVALID_RECORDS=write` |
| `ERROR_PREFIX` | key prefix | default `errors/invalid/` |
| `READINGS_EARLIEST_DATE` | YYYY-MM-DD | first plausible `ts` date (the tables' start) |
| `READINGS_MAX_FUTURE_MINUTES` | whole number | how far `ts` may be after arrival |
| `POWERTOOLS_METRICS_NAMESPACE` | CloudWatch namespace | default `SensorPipeline` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from validator.reading import TimeWindow

DEFAULT_ERROR_PREFIX = "errors/invalid/"
DEFAULT_METRICS_NAMESPACE = "SensorPipeline"


class OutputFormat(StrEnum):
    S3_LINES = "s3-lines"
    SEARCH_DOCUMENTS = "search-documents"


class InvalidRecords(StrEnum):
    WRITE = "write"
    DROP = "drop"


class ConfigurationError(ValueError):
    """An environment variable is missing or has a value the validator cannot use."""


@dataclass(frozen=True)
class Settings:
    output_format: OutputFormat
    invalid_records: InvalidRecords
    error_bucket: str | None = None
    error_prefix: str = DEFAULT_ERROR_PREFIX
    window: TimeWindow = field(default_factory=TimeWindow)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        output_format = OutputFormat(_choice(env, "OUTPUT_FORMAT", OutputFormat))
        invalid_records = InvalidRecords(_choice(env, "INVALID_RECORDS", InvalidRecords))
        bucket = env.get("ERROR_BUCKET", "").strip() or None
        if invalid_records is InvalidRecords.WRITE and bucket is None:
            raise ConfigurationError("ERROR_BUCKET must be set when INVALID_RECORDS=write")
        prefix = env.get("ERROR_PREFIX", "").strip() or DEFAULT_ERROR_PREFIX
        if prefix.startswith("/"):
            raise ConfigurationError(f"ERROR_PREFIX {prefix!r} must not start with '/'")
        if not prefix.endswith("/"):
            prefix += "/"
        try:
            window = TimeWindow.from_env(env)
        except ValueError as err:
            raise ConfigurationError(str(err)) from err
        return cls(output_format, invalid_records, bucket, prefix, window)


def metrics_namespace(env: Mapping[str, str]) -> str:
    return env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or DEFAULT_METRICS_NAMESPACE


def _choice(env: Mapping[str, str], name: str, choices: type[StrEnum]) -> str:
    value = env.get(name, "").strip()
    allowed = [str(choice) for choice in choices]
    if value not in allowed:
        shown = repr(value) if value else "not set"
        raise ConfigurationError(f"{name} is {shown}; it must be one of {allowed}")
    return value
