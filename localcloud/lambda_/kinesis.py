"""The Lambda event source mapping for a Kinesis stream, on one machine.

`KinesisEventSource(function, KinesisMappingConfig.from_cfn_properties(props), checkpoints)`
reads every shard of the stream (`kinesis.consumer.KinesisSource`: one GetRecords per open shard
per poll, a checkpoint per shard kept at `checkpoints` under the mapping id) and invokes the
`LocalLambda` synchronously, shard by shard, with the documented Lambda Kinesis event:
`{"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey", "sequenceNumber",
"data" (base64), "approximateArrivalTimestamp" (epoch seconds)}, "eventSource": "aws:kinesis",
"eventVersion": "1.0", "eventID": "<shardId>:<sequenceNumber>", "eventName":
"aws:kinesis:record", "invokeIdentityArn", "awsRegion", "eventSourceARN"}]}`.

What it follows from the AWS documentation (event source mappings for Kinesis, partial batch
responses, on-failure destinations):
- Records of one shard are delivered in order, at most `BatchSize` per invocation; the
  checkpoint of a shard moves past a batch only when the batch is done (delivered, or given up
  and recorded at the on-failure destination), so delivery is at least once.
- `StartingPosition` (TRIM_HORIZON / LATEST) applies to a shard without a checkpoint.
- `FunctionResponseTypes: ["ReportBatchItemFailures"]`: `{"batchItemFailures": [{"itemIdentifier":
  <sequenceNumber>}]}` checkpoints just before the lowest failed sequence number and retries from
  there. A null or empty list, or a null response, is a success; a response that is not a JSON
  object, a `batchItemFailures` that is not a list, an item whose `itemIdentifier` is missing,
  empty or not a sequence number of the batch fails the whole batch.
- A failed batch is retried (with a growing delay: `retry_delay_seconds` doubling up to
  `max_retry_delay_seconds`) until `MaximumRetryAttempts` retries have failed (-1: without
  limit) or its first record is older than `MaximumRecordAgeInSeconds`; then the batch is given
  up: the on-failure record (`requestContext` with `condition` `RetryAttemptsExhausted` or
  `RecordAgeExceeded` and `approximateInvokeCount`, `responseContext`, `version`, `timestamp`,
  `KinesisBatchInfo` with `shardId`, `startSequenceNumber`, `endSequenceNumber`,
  `approximateArrivalOfFirstRecord`, `approximateArrivalOfLastRecord`, `batchSize`,
  `streamArn`) goes to `DestinationConfig.OnFailure.Destination` (an SQS queue or SNS topic),
  and the checkpoint moves past the batch. Without a destination the batch is discarded (logged
  and counted), as Lambda does.
- `BisectBatchOnFunctionError`: a batch of more than one record whose invocation fails with a
  function error is split in two halves, which are retried one after the other; splitting does
  not count as a retry.
- A shard being retried does not hold up the other shards.

Differences from AWS:
- One poller thread for all shards, invoking one batch at a time (Lambda runs one concurrent
  invocation per shard, or `ParallelizationFactor` per shard; that setting is ignored).
- `MaximumBatchingWindowInSeconds` is honoured roughly: a batch that is not full waits until the
  window has passed since its first record was read; a shard with nothing new is polled every
  `poll_interval_seconds` (default: the window, at least 0.2 s). The 6 MB payload limit is not
  used to cut batches (the function refuses an event above 6 MB, which then fails as an error).
- -1 retry attempts retries (with the growing delay) until the record leaves the stream's
  retention (kinesalite applies it; moto's own Kinesis never expires records).
- The LATEST position of a shard without a checkpoint is taken when the source starts (its
  first read), not when the mapping is created.
- After a reshard, child shards are read at once (see `kinesis.consumer`).
- A shard whose batch is being retried keeps what was read for it in memory, up to
  `max_buffered_records`; beyond that the stream is not read until the other shards have
  worked through what they buffered, then every shard is re-read from its checkpoint.
- The on-failure record's `responseContext.functionError` is the function's error type kind
  (`Unhandled`) for an error; it is left out when the function answered with item failures. An
  S3 on-failure destination, tumbling windows, filter criteria and enhanced fan-out consumers
  are not emulated (an S3 destination or filters are refused when the mapping is read).
- `invokeIdentityArn` is the function's role ARN as the template names it (no role is assumed).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import boto3

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.core.service import run_until_set
from localcloud.kinesis.consumer import (
    INITIAL_POSITIONS,
    CheckpointLocation,
    KinesisSource,
    SourceRecord,
    checkpoint_store,
    consumer_client,
)
from localcloud.lambda_.function import LambdaInvocationError, LocalLambda

log = logging.getLogger("localcloud.lambda")
MAX_BATCH_SIZE: Final = 10_000
DEFAULT_BATCH_SIZE: Final = 100
REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"
RETRIES_EXHAUSTED: Final = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED: Final = "RecordAgeExceeded"


class MappingConfigError(ValueError):
    """An `AWS::Lambda::EventSourceMapping` the local runtime cannot run as written."""


@dataclass(frozen=True)
class KinesisMappingConfig:
    """The settings of one Kinesis event source mapping, as the template gives them."""

    stream_arn: str
    mapping_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    starting_position: str = "LATEST"
    batching_window_seconds: float = 0.0
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_on_function_error: bool = False
    report_batch_item_failures: bool = False
    on_failure_destination: str | None = None
    enabled: bool = True

    @property
    def stream_name(self) -> str:
        return self.stream_arn.split(":stream/", 1)[1]

    @classmethod
    def from_cfn_properties(cls, props: Mapping[str, Any], mapping_id: str) -> KinesisMappingConfig:
        """Read a resolved `AWS::Lambda::EventSourceMapping` whose source is a Kinesis stream."""
        where = f"event source mapping {mapping_id}"
        arn = str(props.get("EventSourceArn", ""))
        if not is_kinesis_stream_arn(arn):
            raise MappingConfigError(f"{where}: {arn!r} is not a Kinesis stream ARN")
        position = str(props.get("StartingPosition", ""))
        if position not in INITIAL_POSITIONS:
            raise MappingConfigError(
                f"{where}: StartingPosition {position!r} is not emulated (use one of "
                f"{', '.join(INITIAL_POSITIONS)})"
            )
        if props.get("FilterCriteria") or props.get("TumblingWindowInSeconds"):
            raise MappingConfigError(
                f"{where}: filter criteria and tumbling windows are not emulated"
            )
        batch_size = int(props.get("BatchSize", DEFAULT_BATCH_SIZE))
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise MappingConfigError(
                f"{where}: BatchSize {batch_size} is outside 1-{MAX_BATCH_SIZE}"
            )
        destination = (
            ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        ) or None
        if destination is not None and _destination_service(str(destination)) is None:
            raise MappingConfigError(
                f"{where}: on-failure destination {destination!r} is not emulated "
                "(only SQS queues and SNS topics)"
            )
        return cls(
            stream_arn=arn,
            mapping_id=mapping_id,
            batch_size=batch_size,
            starting_position=position,
            batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            maximum_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
            bisect_on_function_error=bool(props.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES
            in (props.get("FunctionResponseTypes") or []),
            on_failure_destination=str(destination) if destination else None,
            enabled=bool(props.get("Enabled", True)),
        )


def is_kinesis_stream_arn(arn: str) -> bool:
    return arn.startswith("arn:aws:kinesis:") and ":stream/" in arn


def _destination_service(arn: str) -> str | None:
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    return service if service in ("sqs", "sns") else None


# --- the event and the on-failure record ---------------------------------------------------------


def kinesis_record(
    record: SourceRecord, stream_arn: str, invoke_identity_arn: str, region: str = REGION
) -> dict[str, Any]:
    """One record of the Lambda Kinesis event."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": base64.b64encode(record.data).decode("ascii"),
            "approximateArrivalTimestamp": record.arrival.timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{record.shard_id}:{record.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": invoke_identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def on_failure_record(
    batch: Sequence[SourceRecord],
    *,
    stream_arn: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_id: str,
    function_error: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What Lambda sends an on-failure destination for a Kinesis batch it gives up."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = function_error
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": _iso_millis(now or datetime.now(UTC)),
        "KinesisBatchInfo": {
            "shardId": batch[0].shard_id,
            "startSequenceNumber": batch[0].sequence_number,
            "endSequenceNumber": batch[-1].sequence_number,
            "approximateArrivalOfFirstRecord": _iso_millis(batch[0].arrival),
            "approximateArrivalOfLastRecord": _iso_millis(batch[-1].arrival),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


def first_failed_index(result: Any, batch: Sequence[SourceRecord]) -> int | None:
    """Where to resume after a partial batch response: None when the batch succeeded, 0 when
    the whole batch failed (also for a malformed response)."""
    if result is None:
        return None
    if not isinstance(result, dict):
        return 0
    items = result.get("batchItemFailures")
    if items is None:
        return None
    if not isinstance(items, list):
        return 0
    positions = {record.sequence_number: n for n, record in enumerate(batch)}
    failed: list[int] = []
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0
        failed.append(positions[identifier])
    return min(failed) if failed else None


# --- the poller ----------------------------------------------------------------------------------


@dataclass
class KinesisSourceStats:
    invocations: int = 0
    records_succeeded: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    bisections: int = 0
    batches_given_up: int = 0
    records_given_up: int = 0
    records_discarded: int = 0  # given up without an on-failure destination


@dataclass
class _Failure:
    """A batch given up whose on-failure record is not yet sent."""

    record: dict[str, Any]
    count: int


@dataclass
class _Shard:
    records: list[SourceRecord] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # sub-batches left by bisection
    attempts: int = 0  # invocations of the batch that starts at `attempts_of`
    attempts_of: str | None = None
    buffered_since: float | None = None
    not_before: float = 0.0
    delay: float = 0.0
    failure: _Failure | None = None


@dataclass
class _Outcome:
    failed_at: int | None  # None: the batch succeeded
    error: LambdaInvocationError | None
    request_id: str


class KinesisEventSource:
    """A Kinesis event source mapping for one function."""

    def __init__(
        self,
        function: LocalLambda,
        config: KinesisMappingConfig,
        checkpoints: CheckpointLocation,
        *,
        invoke_identity_arn: str | None = None,
        poll_interval_seconds: float | None = None,
        retry_delay_seconds: float = 0.5,
        max_retry_delay_seconds: float = 30.0,
        max_buffered_records: int = 10_000,
        shard_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.function = function
        self.config = config
        self.invoke_identity_arn = (
            invoke_identity_arn or f"arn:aws:iam::{ACCOUNT_ID}:role/{function.name}-role"
        )
        self.poll_interval_seconds = (
            poll_interval_seconds
            if poll_interval_seconds is not None
            else max(config.batching_window_seconds, 0.2)
        )
        self.retry_delay_seconds = retry_delay_seconds
        self.max_retry_delay_seconds = max_retry_delay_seconds
        self.max_buffered_records = max(max_buffered_records, config.batch_size)
        self._clock = clock
        self.stats = KinesisSourceStats()
        self._shards: dict[str, _Shard] = {}
        self._source = KinesisSource(
            consumer_client(),
            config.stream_name,
            checkpoint_store(checkpoints, config.mapping_id),
            initial_position=config.starting_position,
            limit=min(MAX_BATCH_SIZE, self.max_buffered_records),
            shard_refresh_seconds=shard_refresh_seconds,
            clock=clock,
        )

    @property
    def checkpoints(self) -> dict[str, str]:
        """Shard id -> sequence number of the last record done with."""
        return dict(self._source.checkpoints)

    # --- reading ---

    def _read(self) -> None:
        full = [s for s in self._shards.values() if len(s.records) >= self.max_buffered_records]
        if full:
            if any(s.records for s in self._shards.values() if s not in full):
                return  # the other shards first work through what they have
            self._source.rewind()
            for shard in self._shards.values():
                shard.records.clear()
                shard.buffered_since = None
        now = self._clock()
        for record in self._source.read():
            shard = self._shards.setdefault(record.shard_id, _Shard())
            if not shard.records:
                shard.buffered_since = now
            shard.records.append(record)

    def _ready(self, shard: _Shard, now: float) -> bool:
        if shard.failure is not None:
            return now >= shard.not_before
        if not shard.records or now < shard.not_before:
            return False
        limit = shard.sizes[0] if shard.sizes else self.config.batch_size
        if len(shard.records) >= limit or shard.attempts_of is not None or shard.sizes:
            return True
        waited = now - (shard.buffered_since or now)
        return waited >= self.config.batching_window_seconds

    # --- one round ---

    def poll_once(self) -> int:
        """Read what is new, then run at most one batch per shard that is ready. Returns the
        number of batches handled (invoked, given up or recorded at the destination).

        Reads only while some shard has less than a batch buffered: a GetRecords call per batch
        would cost more than the batch (moto scans the shard on each call)."""
        shards = self._shards.values()
        if not shards or any(len(s.records) < self.config.batch_size for s in shards):
            self._read()
        handled = 0
        for shard_id, shard in self._shards.items():
            if self._ready(shard, self._clock()):
                self._handle(shard_id, shard)
                handled += 1
        return handled

    def _handle(self, shard_id: str, shard: _Shard) -> None:
        if shard.failure is not None:
            self._send_failure(shard_id, shard)
            return
        size = shard.sizes[0] if shard.sizes else self.config.batch_size
        batch = shard.records[:size]
        expired = self._expired_prefix(batch)
        if expired:
            self._give_up(shard_id, shard, batch[:expired], RECORD_AGE_EXCEEDED, None, "")
            return
        if shard.attempts_of != batch[0].sequence_number:
            shard.attempts, shard.attempts_of = 0, batch[0].sequence_number
        outcome = self._invoke(batch)
        shard.attempts += 1
        if outcome.failed_at is None:
            self.stats.records_succeeded += len(batch)
            self._done(shard_id, shard, len(batch))
            shard.attempts, shard.attempts_of, shard.delay = 0, None, 0.0
            return
        self._failed(shard_id, shard, batch, outcome)

    def _failed(
        self, shard_id: str, shard: _Shard, batch: list[SourceRecord], outcome: _Outcome
    ) -> None:
        if outcome.error is not None and self.config.bisect_on_function_error and len(batch) > 1:
            half = (len(batch) + 1) // 2
            shard.sizes[:1] = [half, len(batch) - half]
            shard.attempts, shard.attempts_of = 0, None
            self.stats.bisections += 1
            return
        failed_at = outcome.failed_at or 0
        if failed_at > 0:
            self.stats.records_succeeded += failed_at
            self._done(shard_id, shard, failed_at)
            batch = batch[failed_at:]
            shard.attempts, shard.attempts_of = 1, batch[0].sequence_number
        retries = shard.attempts - 1
        limit = self.config.maximum_retry_attempts
        if limit != -1 and retries >= limit:
            kind = outcome.error.error_type if outcome.error else None
            function_error = "Unhandled" if kind else None
            self._give_up(
                shard_id, shard, batch, RETRIES_EXHAUSTED, function_error, outcome.request_id
            )
            return
        shard.delay = min(
            max(shard.delay * 2, self.retry_delay_seconds), self.max_retry_delay_seconds
        )
        shard.not_before = self._clock() + shard.delay
        log.warning(
            "%s: batch of %d from %s failed (attempt %d), retrying in %.1fs",
            self.function.name,
            len(batch),
            shard_id,
            shard.attempts,
            shard.delay,
        )

    def _invoke(self, batch: list[SourceRecord]) -> _Outcome:
        event = {
            "Records": [
                kinesis_record(r, self.config.stream_arn, self.invoke_identity_arn) for r in batch
            ]
        }
        self.stats.invocations += 1
        try:
            result = self.function.invoke(event)
        except LambdaInvocationError as err:
            self.stats.function_errors += 1
            log.warning("%s: batch of %d failed: %s", self.function.name, len(batch), err)
            return _Outcome(0, err, err.request_id or str(uuid.uuid4()))
        failed_at = (
            first_failed_index(result, batch) if self.config.report_batch_item_failures else None
        )
        if failed_at is not None:
            self.stats.partial_failures += 1
        return _Outcome(failed_at, None, str(uuid.uuid4()))

    def _expired_prefix(self, batch: list[SourceRecord]) -> int:
        """How many records at the start of the batch are older than MaximumRecordAge."""
        max_age = self.config.maximum_record_age_seconds
        if max_age == -1:
            return 0
        now = datetime.now(UTC).timestamp()
        count = 0
        for record in batch:
            if now - record.arrival.timestamp() <= max_age:
                break
            count += 1
        return count

    def _done(self, shard_id: str, shard: _Shard, count: int) -> None:
        """The first `count` buffered records of the shard are done with: checkpoint them."""
        last = shard.records[count - 1]
        self._source.commit({shard_id: last.sequence_number})
        del shard.records[:count]
        if shard.sizes:
            shard.sizes[0] -= count
            if shard.sizes[0] <= 0:
                shard.sizes.pop(0)
        shard.buffered_since = self._clock() if shard.records else None

    def _give_up(
        self,
        shard_id: str,
        shard: _Shard,
        batch: list[SourceRecord],
        condition: str,
        function_error: str | None,
        request_id: str,
    ) -> None:
        record = on_failure_record(
            batch,
            stream_arn=self.config.stream_arn,
            function_arn=self.function.arn,
            condition=condition,
            invoke_count=shard.attempts,
            request_id=request_id or str(uuid.uuid4()),
            function_error=function_error,
        )
        shard.failure = _Failure(record, len(batch))
        self._send_failure(shard_id, shard)

    def _send_failure(self, shard_id: str, shard: _Shard) -> None:
        failure = shard.failure
        assert failure is not None
        destination = self.config.on_failure_destination
        info = failure.record["KinesisBatchInfo"]
        try:
            if destination is not None:
                send_to_destination(destination, failure.record)
        except Exception as err:
            shard.delay = min(
                max(shard.delay * 2, self.retry_delay_seconds), self.max_retry_delay_seconds
            )
            shard.not_before = self._clock() + shard.delay
            log.error(
                "%s: on-failure record for %s %s-%s not sent to %s (%s); the shard waits",
                self.function.name,
                shard_id,
                info["startSequenceNumber"],
                info["endSequenceNumber"],
                destination,
                err,
            )
            return
        if destination is None:
            self.stats.records_discarded += failure.count
            log.error(
                "%s: %s %s-%s (%d records) discarded after %s; no on-failure destination",
                self.function.name,
                shard_id,
                info["startSequenceNumber"],
                info["endSequenceNumber"],
                failure.count,
                failure.record["requestContext"]["condition"],
            )
        self.stats.batches_given_up += 1
        self.stats.records_given_up += failure.count
        shard.failure = None
        shard.attempts, shard.attempts_of, shard.delay = 0, None, 0.0
        self._done(shard_id, shard, failure.count)

    # --- running ---

    def run_forever(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                handled = self.poll_once()
            except Exception:
                log.exception("%s: polling %s failed", self.function.name, self.config.stream_arn)
                stop_event.wait(1.0)
                continue
            if not handled:
                stop_event.wait(self.poll_interval_seconds)

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """Take the starting position of every shard now (a first read), then poll in a daemon
        thread until `stop_event` is set."""
        self._read()
        return run_until_set(self.run_forever, stop_event, f"kinesis-{self.function.name}")


def send_to_destination(destination_arn: str, record: dict[str, Any]) -> None:
    """Send an on-failure record to an SQS queue or SNS topic (by ARN)."""
    body = json.dumps(record)
    service = _destination_service(destination_arn)
    if service == "sqs":
        _, _, _, region, account, name = destination_arn.split(":", 5)
        sqs = boto3.client("sqs", region_name=region)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)
    elif service == "sns":
        boto3.client("sns", region_name=destination_arn.split(":")[3]).publish(
            TopicArn=destination_arn, Message=body
        )
    else:
        raise ValueError(f"{destination_arn} is not an SQS queue or SNS topic ARN")
