"""Raw objects: what an S3 ObjectCreated record names, checked against the raw/ layout.

Firehose writes `raw/dt=YYYY-MM-DD/hour=HH/<name>`; S3 notifications carry the key URL-encoded
(`raw/dt%3D2026-11-22/hour%3D10/...`). A record that names another bucket, another prefix or a key
outside that layout is rejected with a reason and never counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from compactor.settings import Settings

RAW_KEY = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/([^/]+)$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RawObject:
    """One raw object of the data bucket, as counted and batched."""

    bucket: str
    key: str
    dt: str
    hour: int
    event_time: str  # UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`, sorts as time

    @property
    def path(self) -> str:
        """The object's `"$path"` as Athena shows it: the S3 URI with the key not encoded."""
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Rejected:
    """A record that is not counted, and why."""

    key: str
    reason: str


def raw_object(bucket: str, key: str, event_time: str, settings: Settings) -> RawObject:
    """The raw object for a decoded key; ValueError says what is wrong with it."""
    if bucket != settings.data_bucket:
        raise ValueError(f"bucket {bucket!r} is not the data bucket {settings.data_bucket!r}")
    if CONTROL_CHARACTERS.search(key):
        raise ValueError("key contains control characters")
    if not key.startswith(settings.raw_prefix):
        raise ValueError(f"key is not under {settings.raw_prefix!r}")
    match = RAW_KEY.match(key[len(settings.raw_prefix) :])
    if match is None:
        raise ValueError(f"key does not match {settings.raw_prefix}dt=YYYY-MM-DD/hour=HH/<name>")
    dt, hour_text, _ = match.groups()
    try:
        date.fromisoformat(dt)
    except ValueError as err:
        raise ValueError(f"dt={dt} is not a calendar date") from err
    hour = int(hour_text)
    if hour > 23:
        raise ValueError(f"hour={hour_text} is not an hour of the day")
    return RawObject(bucket, key, dt, hour, normalize_time(event_time))


def normalize_time(text: str) -> str:
    """An ISO-8601 instant as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (sortable as text)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"eventTime {text!r} is not an ISO-8601 time") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def objects_from_s3_event(
    event: S3Event, settings: Settings
) -> tuple[list[RawObject], list[Rejected]]:
    """The raw objects an S3 notification names (ObjectCreated only), and what was rejected."""
    accepted: list[RawObject] = []
    rejected: list[Rejected] = []
    for record in event.records:
        key = "?"
        try:
            if record.event_source != "aws:s3":
                raise ValueError(f"eventSource {record.event_source!r} is not aws:s3")
            if not record.event_name.startswith("ObjectCreated:"):
                raise ValueError(f"eventName {record.event_name!r} is not ObjectCreated:*")
            key = unquote_plus(record.s3.get_object.key)
            bucket = record.s3.bucket.name
            accepted.append(raw_object(bucket, key, record.event_time, settings))
        except (KeyError, TypeError) as err:
            rejected.append(Rejected(key, f"record lacks a field of an S3 event: {err}"))
        except ValueError as err:
            rejected.append(Rejected(key, str(err)))
    return accepted, rejected
