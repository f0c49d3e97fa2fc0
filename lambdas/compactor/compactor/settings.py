"""The compactor's settings, read once from the environment the stack sets (see CONTRACTS.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The one definition of the threshold's bounds: `cdk_app/config.py` checks the context's
# `compactionThreshold` against these when the app is synthesized.
# The upper bound is AWS's: one claim is one DynamoDB transaction (TransactWriteItems, at most 100
# actions) of a delete per object plus two of the batch's own (its record and its entry in the
# open-batch index), so threshold + 2 <= 100. The lower bound is ours: a batch of one object
# merges nothing.
MAX_THRESHOLD = 98
MIN_THRESHOLD = 2
THRESHOLD_BOUNDS = "a batch is claimed in one DynamoDB transaction of threshold + 2 actions"
DEFAULT_THRESHOLD = 20
DEFAULT_MAX_AGE_MINUTES = 60
DEFAULT_SCHEDULE_MINUTES = 5
DEFAULT_QUALITY_SETTLE_MINUTES = 71  # the defaults: 1 (buffer) + 60 (tail) + 5 (schedule) + 5
GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$")


class SettingsError(ValueError):
    """An environment variable is missing or unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    state_table: str
    threshold: int
    max_age_minutes: int
    glue_database: str
    raw_table: str
    compacted_table: str
    workgroup: str
    data_bucket: str
    raw_prefix: str
    compacted_prefix: str
    # The hourly quality score (compactor/quality.py); no named query id: not computed.
    quality_named_query_id: str = ""
    quality_settle_minutes: int = DEFAULT_QUALITY_SETTLE_MINUTES
    schedule_minutes: int = DEFAULT_SCHEDULE_MINUTES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and check every variable; a bad one raises SettingsError naming it."""
        settings = cls(
            state_table=_required(env, "STATE_TABLE"),
            threshold=_integer(env, "COMPACTION_THRESHOLD", DEFAULT_THRESHOLD),
            max_age_minutes=_integer(env, "COMPACTION_MAX_AGE_MINUTES", DEFAULT_MAX_AGE_MINUTES),
            glue_database=_required(env, "GLUE_DATABASE"),
            raw_table=_required(env, "RAW_TABLE"),
            compacted_table=_required(env, "COMPACTED_TABLE"),
            workgroup=_required(env, "ATHENA_WORKGROUP"),
            data_bucket=_required(env, "DATA_BUCKET"),
            raw_prefix=env.get("RAW_PREFIX", "raw/"),
            compacted_prefix=env.get("COMPACTED_PREFIX", "compacted/"),
            quality_named_query_id=env.get("QUALITY_NAMED_QUERY_ID", "").strip(),
            quality_settle_minutes=_integer(
                env, "QUALITY_SETTLE_MINUTES", DEFAULT_QUALITY_SETTLE_MINUTES
            ),
            schedule_minutes=_integer(env, "COMPACTION_SCHEDULE_MINUTES", DEFAULT_SCHEDULE_MINUTES),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not MIN_THRESHOLD <= self.threshold <= MAX_THRESHOLD:
            raise SettingsError(
                f"COMPACTION_THRESHOLD must be between {MIN_THRESHOLD} and {MAX_THRESHOLD} "
                f"({THRESHOLD_BOUNDS}), got {self.threshold}"
            )
        for name, minutes in (
            ("QUALITY_SETTLE_MINUTES", self.quality_settle_minutes),
            ("COMPACTION_SCHEDULE_MINUTES", self.schedule_minutes),
        ):
            if minutes < 1:
                raise SettingsError(f"{name} must be at least 1, got {minutes}")
        if self.max_age_minutes < 1:
            raise SettingsError(
                f"COMPACTION_MAX_AGE_MINUTES must be at least 1, got {self.max_age_minutes}"
            )
        for name, value in (
            ("GLUE_DATABASE", self.glue_database),
            ("RAW_TABLE", self.raw_table),
            ("COMPACTED_TABLE", self.compacted_table),
        ):
            if not GLUE_NAME.match(value):
                raise SettingsError(
                    f"{name} must be a Glue name (lower-case letters, digits, '_'), got {value!r}"
                )
        if not BUCKET_NAME.match(self.data_bucket):
            raise SettingsError(f"DATA_BUCKET is not a valid bucket name: {self.data_bucket!r}")
        for name, value in (
            ("RAW_PREFIX", self.raw_prefix),
            ("COMPACTED_PREFIX", self.compacted_prefix),
        ):
            if not PREFIX.match(value):
                raise SettingsError(
                    f"{name} must look like 'folder/' (ending in '/'), got {value!r}"
                )
        if self.raw_prefix.startswith(self.compacted_prefix) or self.compacted_prefix.startswith(
            self.raw_prefix
        ):
            raise SettingsError("RAW_PREFIX and COMPACTED_PREFIX must not contain one another")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from err
