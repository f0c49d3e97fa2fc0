"""Invalid records to S3: `<prefix>dt=YYYY-MM-DD/hour=HH/<invocationId>.jsonl`.

One object per invocation and arrival hour (Firehose's `approximateArrivalTimestamp`, UTC), one
line per record: `{"reason", "record_id", "thing_name", "arrival_ms", "payload_base64"}`. The key
depends only on the invocation and the records, so a retried invocation rewrites the same
objects with the same content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

UNSAFE_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")


class S3Client(Protocol):
    """The part of boto3's S3 client the sink uses."""

    def put_object(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class InvalidRecord:
    record_id: str
    reason: str
    problem: str
    thing_name: str | None
    arrival_ms: int | None
    payload_base64: str
    firehose_arrival_ms: int

    def line(self) -> str:
        return json.dumps(
            {
                "reason": self.reason,
                "record_id": self.record_id,
                "thing_name": self.thing_name,
                "arrival_ms": self.arrival_ms,
                "payload_base64": self.payload_base64,
            },
            ensure_ascii=True,  # a lone surrogate in a reason can always be written
            separators=(",", ":"),
        )


def error_key(prefix: str, firehose_arrival_ms: int, invocation_id: str) -> str:
    """The object key for an invocation's invalid records that arrived in one UTC hour."""
    when = datetime.fromtimestamp(firehose_arrival_ms / 1000, tz=UTC)
    name = UNSAFE_KEY_CHARACTERS.sub("_", invocation_id) or "invocation"
    return f"{prefix}dt={when:%Y-%m-%d}/hour={when:%H}/{name}.jsonl"


def group_by_key(
    records: Iterable[InvalidRecord], prefix: str, invocation_id: str
) -> dict[str, list[InvalidRecord]]:
    groups: dict[str, list[InvalidRecord]] = {}
    for record in records:
        key = error_key(prefix, record.firehose_arrival_ms, invocation_id)
        groups.setdefault(key, []).append(record)
    return groups


def write_invalid(
    s3: S3Client,
    bucket: str,
    prefix: str,
    invocation_id: str,
    records: Iterable[InvalidRecord],
) -> list[str]:
    """Put every invalid record to S3; returns the keys written. Any S3 error propagates."""
    keys = []
    for key, group in sorted(group_by_key(records, prefix, invocation_id).items()):
        body = "".join(record.line() + "\n" for record in group).encode("utf-8")
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        keys.append(key)
    return keys
