"""Firehose: delivery workers that read Kinesis and write S3 objects or OpenSearch documents.

One `DeliveryWorker` per `AWS::KinesisFirehose::DeliveryStream` of the template. It reads every
shard of the source stream (checkpointed on disk, see `kinesis.consumer`), buffers by the
stream's size and interval hints (`firehose.buffer`), runs the transformation Lambda
(`firehose.processing`), and delivers:

- S3 (`ExtendedS3DestinationConfiguration`): the records concatenated as they are (Firehose adds
  no delimiter unless `AppendDelimiterToRecord`), compressed as configured, in one object named
  as Firehose names it (`firehose.naming`); unsuccessfully processed records go to the error
  output prefix with error-output-type `processing-failed`. `S3BackupMode: Enabled` also writes
  the untransformed source records under the backup configuration's prefix.
- OpenSearch (`AmazonopensearchserviceDestinationConfiguration`): one `_bulk` request to the
  rotated index (`firehose.opensearch`); failed documents go to `S3Configuration` with
  error-output-type `AmazonOpenSearchService-failed` (the Firehose API reference: "with
  AmazonOpenSearchService-failed/ appended to the key prefix"), processing failures with
  `processing-failed`; `S3BackupMode: AllDocuments` also backs up every source record.

A buffer's checkpoint moves only after all of its objects and documents are written, so delivery
is at least once, as with Firehose. While records are buffered and a buffer is delivered (the
transformation Lambda, the S3 PUT, the checkpoint), the next GetRecords is already under way in a
reader thread (one page ahead, while the last read returned records), as Firehose keeps reading
its source while it transforms and delivers; what was read ahead is buffered on the next poll
(or by `flush`), and is never checkpointed before it is delivered. A delivery that
fails (S3 or the endpoint unreachable) is retried, with the same object keys, before anything
more is read than that one read ahead.

Differences from AWS (see also the modules named above):
- The timestamp in an object's name is the arrival time of its oldest record (the same instant
  the prefix is evaluated at), not the time the object was written.
- The index a buffer goes to is chosen by the arrival time of its oldest record, so one buffer
  never spans two indices.
- `S3BackupMode: AllDocuments` backs up the source records as read from Kinesis.
- Error records and failed documents are written one JSON object per line, compressed like the
  stream's data.
- CloudWatch logging and metrics are replaced by the worker's log lines and `counters`.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from localcloud.firehose.buffer import DeliveryBuffer
from localcloud.firehose.config import (
    DeliveryStreamConfig,
    DeliveryStreamConfigError,
    OpenSearchDestination,
    Processing,
    S3Destination,
    S3Target,
)
from localcloud.firehose.naming import (
    OPENSEARCH_FAILED,
    PROCESSING_FAILED,
    object_suffix,
    rotated_index_name,
    to_zone,
)
from localcloud.firehose.opensearch import Document, deliver_documents, firehose_document_id
from localcloud.firehose.processing import ProcessingOutcome, Processor, process
from localcloud.kinesis.consumer import (
    CheckpointLocation,
    KinesisSource,
    SourceRecord,
    checkpoint_store,
    consumer_client,
    last_sequence_by_shard,
)

__all__ = [
    "DeliveryCounters",
    "DeliveryStreamConfig",
    "DeliveryStreamConfigError",
    "DeliveryWorker",
]

log = logging.getLogger("localcloud.firehose")

Tally = dict[str, int]
Step = Callable[[Tally], "list[Step]"]


@dataclass
class DeliveryCounters:
    """Progress of one worker, for the demo's progress line. Records are counted once their
    delivery (and checkpoint) is complete."""

    records_in: int = 0
    records_delivered: int = 0
    records_dropped: int = 0
    records_failed: int = 0
    objects_written: int = 0
    error_objects_written: int = 0
    delivery_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}


@dataclass
class _Delivery:
    """One buffer on its way out: the steps still to do, and what they have achieved."""

    positions: dict[str, str]
    steps: list[Step]
    tally: Tally = field(default_factory=dict)


def _bump(tally: Tally, **deltas: int) -> None:
    for name, delta in deltas.items():
        tally[name] = tally.get(name, 0) + delta


def _oldest(records: Sequence[SourceRecord]) -> datetime:
    return min(record.arrival for record in records)


class DeliveryWorker:
    """Reads the stream's Kinesis source and delivers to its destination.

    boto3 clients come from the environment (`AWS_ENDPOINT_URL`) unless given (`s3_client`,
    `kinesis_client`: the local cloud passes sessions of the stream's roles). `processor` is the
    transformation Lambda's synchronous invoke (required when the stream configures one);
    `opensearch_endpoint` is the base URL of the emulated OpenSearch (OpenSearch streams only).
    """

    def __init__(
        self,
        config: DeliveryStreamConfig,
        processor: Processor | None = None,
        opensearch_endpoint: str | None = None,
        checkpoints: CheckpointLocation = Path(".localcloud/firehose"),
        *,
        initial_position: str = "TRIM_HORIZON",
        poll_interval_seconds: float = 1.0,
        flush_on_stop: bool = True,
        clock: Callable[[], float] = time.monotonic,
        s3_client: Any = None,
        kinesis_client: Any = None,
    ) -> None:
        self.config = config
        destination = config.destination
        if destination.processing.lambda_processor is not None and processor is None:
            raise DeliveryStreamConfigError(
                f"{config.name}: the stream transforms records with "
                f"{destination.processing.lambda_processor.lambda_arn}; pass its invoke as "
                "`processor`"
            )
        if isinstance(destination, OpenSearchDestination) and not opensearch_endpoint:
            raise DeliveryStreamConfigError(
                f"{config.name}: an OpenSearch destination needs `opensearch_endpoint`"
            )
        self._processor = processor
        self._endpoint = opensearch_endpoint
        self._poll_interval = poll_interval_seconds
        self._flush_on_stop = flush_on_stop
        self._s3 = s3_client or boto3.client("s3")
        self._source = KinesisSource(
            kinesis_client or consumer_client(),
            config.source_stream_name,
            checkpoint_store(checkpoints, config.name),
            initial_position=initial_position,
            clock=clock,
        )
        self._buffer = DeliveryBuffer(destination.buffering, clock=clock)
        self._pending: _Delivery | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix=f"firehose-read-{config.name}")
        self._read_ahead: Future[list[SourceRecord]] | None = None
        self._lock = threading.RLock()
        self.counters = DeliveryCounters()

    # --- the loop ---

    def poll_once(self) -> int:
        """Finish a pending delivery, read each shard once, deliver if a hint is reached.
        Returns the number of records read."""
        with self._lock:
            if self._pending is not None and not self._complete_pending():
                return 0
            records = self._next_read()
            if records:
                self._start_read_ahead()  # the next page arrives while this one is delivered
            self._take_in(records)
            if self._buffer.should_deliver():
                self._deliver_buffer()
            return len(records)

    def flush(self) -> bool:
        """Deliver whatever is buffered now. True when nothing is left undelivered."""
        with self._lock:
            if self._pending is not None and not self._complete_pending():
                return False
            if self._read_ahead is not None and not self._read_ahead.cancelled():
                self._take_in(self._next_read())
            if len(self._buffer):
                self._deliver_buffer()
            return self._pending is None and not len(self._buffer)

    def _take_in(self, records: list[SourceRecord]) -> None:
        """Buffer records read, delivering each time the buffer reaches a size hint (so no
        object is larger than the hint by more than one record)."""
        self.counters.add(records_in=len(records))
        for record in records:
            self._buffer.add(record)
            if self._buffer.is_full():
                self._deliver_buffer()

    def drain(self) -> bool:
        """Read until the stream has nothing new, then flush. True when all is delivered."""
        with self._lock:
            while self.poll_once():
                pass
            return self.flush()

    def run_forever(self, stop_event: threading.Event) -> None:
        """Poll until `stop_event` is set (run it in a thread), then flush."""
        log.info("%s: delivering from %s", self.config.name, self.config.source_stream_name)
        while not stop_event.is_set():
            try:
                read = self.poll_once()
            except Exception:
                log.exception("%s: reading the source stream failed", self.config.name)
                self.counters.add(delivery_errors=1)
                read = 0
            if not read:
                stop_event.wait(self._poll_interval)
        if self._flush_on_stop:
            try:
                if not self.flush():
                    log.warning("%s: stopped with an undelivered buffer", self.config.name)
            except Exception:
                log.exception("%s: the final flush failed", self.config.name)
        self._reader.shutdown(wait=False, cancel_futures=True)

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """`run_forever` in a daemon thread."""
        thread = threading.Thread(
            target=self.run_forever, args=(stop_event,), name=f"firehose-{self.config.name}"
        )
        thread.daemon = True
        thread.start()
        return thread

    # --- reading ---

    def _next_read(self) -> list[SourceRecord]:
        """The records read ahead while the last buffer was delivered, or a read now."""
        ahead, self._read_ahead = self._read_ahead, None
        if ahead is None or ahead.cancelled():  # cancelled: it never ran (the worker stopped)
            return self._source.read()
        return ahead.result()  # a read error raises here, as a read now would

    def _start_read_ahead(self) -> None:
        """Read the next records while a buffer is delivered (one read at a time: the source's
        iterators are used by one thread at once)."""
        if self._read_ahead is None:
            with contextlib.suppress(RuntimeError):  # shut down: the worker is stopping
                self._read_ahead = self._reader.submit(self._source.read)

    # --- delivery ---

    def _deliver_buffer(self) -> None:
        if self._pending is not None:
            return  # the previous buffer is still on its way; keep buffering
        records = self._buffer.take()
        if not records:
            return
        self._pending = _Delivery(
            positions=last_sequence_by_shard(records),
            steps=[lambda tally: self._plan(records, tally)],
        )
        self._start_read_ahead()
        self._complete_pending()

    def _complete_pending(self) -> bool:
        delivery = self._pending
        assert delivery is not None
        while delivery.steps:
            step = delivery.steps[0]
            try:
                more = step(delivery.tally)
            except Exception as err:
                self.counters.add(delivery_errors=1)
                log.warning("%s: delivery failed, will retry: %s", self.config.name, err)
                return False
            delivery.steps[0:1] = more
        self._source.commit(delivery.positions)
        self.counters.add(**delivery.tally)
        self._pending = None
        return True

    def _plan(self, records: list[SourceRecord], tally: Tally) -> list[Step]:
        destination = self.config.destination
        steps: list[Step] = []
        outcome = self._process(records, destination.processing)
        _bump(tally, records_dropped=len(outcome.dropped))
        if outcome.failed:
            processing = destination.processing.lambda_processor
            arn = processing.lambda_arn if processing else ""
            error_target = (
                destination.s3
                if isinstance(destination, OpenSearchDestination)
                else destination.target
            )
            steps.append(
                self._put_step(
                    error_target,
                    [failed.to_json_line(arn) for failed in outcome.failed],
                    _oldest([failed.source for failed in outcome.failed]),
                    PROCESSING_FAILED,
                    {"records_failed": len(outcome.failed), "error_objects_written": 1},
                )
            )
        if isinstance(destination, S3Destination):
            if destination.backup is not None:
                steps.append(
                    self._put_step(
                        destination.backup,
                        [record.data for record in records],
                        _oldest(records),
                        None,
                        {},
                    )
                )
            if outcome.ok:
                steps.append(
                    self._put_step(
                        destination.target,
                        [data for _, data in outcome.ok],
                        _oldest([source for source, _ in outcome.ok]),
                        None,
                        {"records_delivered": len(outcome.ok), "objects_written": 1},
                    )
                )
        else:
            if destination.backup_all_documents:
                steps.append(
                    self._put_step(
                        destination.s3,
                        [record.data for record in records],
                        _oldest(records),
                        None,
                        {},
                    )
                )
            if outcome.ok:
                steps.append(self._opensearch_step(destination, outcome))
        return steps

    def _process(self, records: list[SourceRecord], processing: Processing) -> ProcessingOutcome:
        outcome = ProcessingOutcome()
        if processing.lambda_processor is not None and self._processor is not None:
            outcome = process(self.config, processing.lambda_processor, self._processor, records)
        else:
            outcome.ok = [(record, record.data) for record in records]
        if processing.delimiter is not None:
            outcome.ok = [(source, data + processing.delimiter) for source, data in outcome.ok]
        return outcome

    def _put_step(
        self,
        target: S3Target,
        parts: list[bytes],
        arrival: datetime,
        error_output_type: str | None,
        on_success: Tally,
    ) -> Step:
        """A step writing one object; its key is fixed now, so a retry rewrites the same key."""
        moment = to_zone(arrival, target.time_zone)
        if error_output_type is None:
            prefix = target.prefixes.data_prefix(moment)
        else:
            prefix = target.prefixes.error_prefix(moment, error_output_type)
        key = prefix + object_suffix(
            self.config.name, self.config.version, moment, target.extension
        )
        body = b"".join(parts)
        if target.compression == "GZIP":
            body = gzip.compress(body)

        def put(tally: Tally) -> list[Step]:
            self._s3.put_object(Bucket=target.bucket, Key=key, Body=body)
            log.debug("%s: wrote s3://%s/%s", self.config.name, target.bucket, key)
            _bump(tally, **on_success)
            return []

        return put

    def _opensearch_step(
        self, destination: OpenSearchDestination, outcome: ProcessingOutcome
    ) -> Step:
        documents = [
            Document(
                source,
                data,
                firehose_document_id(source) if destination.firehose_document_ids else None,
            )
            for source, data in outcome.ok
        ]
        index = rotated_index_name(
            destination.index_name,
            destination.rotation,
            _oldest([source for source, _ in outcome.ok]),
        )
        endpoint = self._endpoint or ""

        def send(tally: Tally) -> list[Step]:
            indexed, failed = deliver_documents(
                endpoint, index, documents, destination.retry_duration_seconds
            )
            _bump(tally, records_delivered=len(indexed))
            if not failed:
                return []
            return [
                self._put_step(
                    destination.s3,
                    [item.to_json_line(destination.type_name) for item in failed],
                    _oldest([item.document.source for item in failed]),
                    OPENSEARCH_FAILED,
                    {"records_failed": len(failed), "error_objects_written": 1},
                )
            ]

        return send

    # --- introspection ---

    @property
    def checkpoints(self) -> dict[str, str]:
        return dict(self._source.checkpoints)

    def status(self) -> dict[str, Any]:
        """Counters plus buffer state, for progress lines (does not wait for a delivery)."""
        return {
            "stream": self.config.name,
            **self.counters.snapshot(),
            "buffered": len(self._buffer),
            "read_errors": self._source.read_errors,
            "delivery_pending": self._pending is not None,
        }
