"""Reading a Kinesis stream, every shard, with a checkpoint per shard: the consumer the Firehose
delivery workers and the Lambda event source mappings share. In the local cloud the checkpoints
are kept by the moto server, in the same snapshot as the data they describe; a consumer on its
own keeps them in a file.

The checkpoint of a shard is the sequence number of the last record that was delivered. It is
written (atomically, fsync'd) only after the data holding that record is durably at its
destination, so a restarted worker neither loses records nor re-sends the whole stream. Like
Firehose, delivery is at least once: a crash between delivery and checkpoint repeats that batch.

Differences from AWS:
- A new stream (no checkpoint) is read from TRIM_HORIZON; Firehose starts at LATEST. Locally the
  workers start right after the stream is created, so nothing that was put is skipped.
- Shards are listed again every `shard_refresh_seconds`; after a reshard, child shards are read
  at once, without waiting for their parents to be read to the end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserFactory
from botocore.utils import parse_timestamp

log = logging.getLogger("localcloud.firehose")
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST")


@dataclass(frozen=True)
class SourceRecord:
    """One record read from the Kinesis source stream."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime  # ApproximateArrivalTimestamp, timezone-aware

    @cached_property
    def arrival_ms(self) -> int:
        return int(self.arrival.timestamp() * 1000)


def epoch_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser for the consumers' Kinesis clients. The JSON protocol sends
    `ApproximateArrivalTimestamp` as epoch seconds; botocore's default parser turns each into a
    datetime in the local zone through dateutil, which cost a quarter of a millisecond per record
    (bench/bench_firehose.py --profile) in every consumer. Epoch numbers become the same instant
    in UTC here; anything else is parsed as botocore does."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed


def consumer_client(credentials: Mapping[str, str] | None = None) -> Any:
    """A Kinesis client for a consumer (endpoint and region from the environment), parsing
    timestamps with `epoch_timestamp` (botocore's documented `set_parser_defaults`).
    `credentials`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` of a role
    session (`core.iam.role_credentials`); None: those of the environment."""
    core = botocore.session.get_session()
    parsers = ResponseParserFactory()
    parsers.set_parser_defaults(timestamp_parser=epoch_timestamp)
    core.register_component("response_parser_factory", parsers)
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": credentials["AWS_SESSION_TOKEN"],
        }
    return boto3.Session(botocore_session=core).client("kinesis", **keys)


def last_sequence_by_shard(records: Iterable[SourceRecord]) -> dict[str, str]:
    """The highest sequence number of each shard among `records` (numeric comparison)."""
    last: dict[str, str] = {}
    for record in records:
        current = last.get(record.shard_id)
        if current is None or int(record.sequence_number) > int(current):
            last[record.shard_id] = record.sequence_number
    return last


class CheckpointStore:
    """Shard id -> last delivered sequence number, in one JSON file, for one incarnation of the
    stream (its ARN and creation time): checkpoints of a deleted and re-created stream of the same
    name (a restarted moto) would point past its records, so they are not used."""

    def __init__(self, path: Path, stream_identity: str = "") -> None:
        self.path = path
        self.stream_identity = stream_identity

    def load(self) -> dict[str, str]:
        try:
            data = json.loads(self._read())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise RuntimeError(f"checkpoint file {self.path} is unreadable: {err}") from err
        shards = data.get("shards") if isinstance(data, dict) else None
        if not isinstance(shards, dict):
            raise RuntimeError(f"checkpoint file {self.path} has no 'shards' object")
        if data.get("stream") != self.stream_identity:
            log.warning(
                "%s: checkpoints are of another stream (%s, now %s); reading from the start",
                self.path,
                data.get("stream"),
                self.stream_identity,
            )
            return {}
        return {str(k): str(v) for k, v in shards.items()}

    def save(self, positions: dict[str, str]) -> None:
        document = {"stream": self.stream_identity, "shards": positions}
        self._write(json.dumps(document, indent=1, sort_keys=True).encode())

    def _read(self) -> bytes:
        return self.path.read_bytes()

    def _write(self, body: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


class ServerCheckpointStore(CheckpointStore):
    """The same checkpoints, kept by the moto server (`/_localcloud/checkpoints/<name>`) and saved
    in its snapshot with the objects and items they describe (localcloud/moto/state.py)."""

    def __init__(self, url: str, stream_identity: str = "") -> None:
        super().__init__(Path(urllib.parse.urlparse(url).path), stream_identity)
        self.url = url

    def _read(self) -> bytes:
        try:
            with urllib.request.urlopen(self.url, timeout=30) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise FileNotFoundError(self.url) from err
            raise OSError(f"GET {self.url}: HTTP {err.code}") from err

    def _write(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, method="PUT")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback
            pass


CheckpointLocation = Path | str
"""Where consumers keep their checkpoints: a directory (`<dir>/<name>.json`) or a URL under the
moto server's `/_localcloud/checkpoints/` (`<url>/<name>`), which saves them in its snapshot."""


def checkpoint_store(location: CheckpointLocation, name: str) -> CheckpointStore:
    """The checkpoints of consumer `name` at `location`."""
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        return ServerCheckpointStore(f"{location.rstrip('/')}/{name}")
    return CheckpointStore(Path(location) / f"{name}.json")


class KinesisSource:
    """Reads each shard of one stream from its checkpoint; `commit` moves the checkpoints."""

    def __init__(
        self,
        client: Any,
        stream_name: str,
        store: CheckpointStore,
        initial_position: str = "TRIM_HORIZON",
        limit: int = 10_000,
        shard_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if initial_position not in INITIAL_POSITIONS:
            raise ValueError(f"initial_position must be one of {INITIAL_POSITIONS}")
        self._client = client
        self.stream_name = stream_name
        self._store = store
        self._initial = initial_position
        self._limit = limit
        self._refresh = shard_refresh_seconds
        self._clock = clock
        summary = client.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        created = summary["StreamCreationTimestamp"]
        store.stream_identity = f"{summary['StreamARN']}@{created.isoformat()}"
        self.checkpoints = store.load()
        self._iterators: dict[str, str | None] = {}  # None: the shard is closed and read
        self._last_read: dict[str, str] = {}
        self._listed_at: float | None = None
        self.read_errors = 0

    def _list_shards(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self._client.list_shards(**kwargs)
            shards.extend(shard["ShardId"] for shard in page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def _iterator(self, shard_id: str) -> str:
        after = self._last_read.get(shard_id) or self.checkpoints.get(shard_id)
        kwargs: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after is not None:
            kwargs |= {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": after,
            }
        else:
            kwargs["ShardIteratorType"] = self._initial
        return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])

    def _refresh_shards(self) -> None:
        now = self._clock()
        if self._listed_at is not None and now - self._listed_at < self._refresh:
            return
        self._listed_at = now
        for shard_id in self._list_shards():
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._iterator(shard_id)

    def read(self) -> list[SourceRecord]:
        """One GetRecords call per open shard; the records in shard order."""
        self._refresh_shards()
        records: list[SourceRecord] = []
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            try:
                try:
                    page = self._client.get_records(ShardIterator=iterator, Limit=self._limit)
                except self._client.exceptions.ExpiredIteratorException:
                    self._iterators[shard_id] = self._iterator(shard_id)
                    continue
            except (BotoCoreError, ClientError) as err:
                # keep what other shards returned: dropping it would skip records whose
                # iterators already moved on
                self.read_errors += 1
                log.warning("%s: reading %s failed: %s", self.stream_name, shard_id, err)
                continue
            for item in page.get("Records", []):
                arrival = item["ApproximateArrivalTimestamp"]
                if isinstance(arrival, (int, float)):
                    arrival = datetime.fromtimestamp(arrival, UTC)
                elif arrival.tzinfo is None:
                    arrival = arrival.replace(tzinfo=UTC)
                records.append(
                    SourceRecord(
                        shard_id=shard_id,
                        sequence_number=item["SequenceNumber"],
                        partition_key=item["PartitionKey"],
                        data=bytes(item["Data"]),
                        arrival=arrival,
                    )
                )
                self._last_read[shard_id] = item["SequenceNumber"]
            self._iterators[shard_id] = page.get("NextShardIterator")
            if self._iterators[shard_id] is None:
                log.info("%s: shard %s is closed and read to its end", self.stream_name, shard_id)
        return records

    def rewind(self) -> None:
        """Forget what was read but not committed: the next read starts at the checkpoints."""
        self._last_read.clear()
        self._iterators.clear()
        self._listed_at = None

    def commit(self, positions: dict[str, str]) -> None:
        """Record that everything up to `positions` (shard -> sequence number) is delivered."""
        changed = False
        for shard_id, sequence in positions.items():
            current = self.checkpoints.get(shard_id)
            if current is None or int(sequence) > int(current):
                self.checkpoints[shard_id] = sequence
                changed = True
        if changed:
            self._store.save(dict(self.checkpoints))
