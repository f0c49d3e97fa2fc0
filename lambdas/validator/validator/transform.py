"""The Firehose data transformation: one result per input record, in order, with the same ids.

- `Ok`: the reading's fields (table order) plus `thing_name` and `arrival_ms` as one compact
  JSON object, followed by a newline for `OUTPUT_FORMAT=s3-lines`.
- `Dropped`: the record is invalid. With `INVALID_RECORDS=write` it is first written to S3 (see
  `invalid_sink`). With `INVALID_RECORDS=drop` it is only dropped.
- `ProcessingFailed`: an unexpected error on that record, or an invalid record whose error
  object could not be written; Firehose delivers it to its processing-failed error output.

One record never costs another: validation is total (any bytes give `Ok` or `Dropped`), an
unexpected error is caught per record, and a failed write of the invalid records turns only
those records into `ProcessingFailed`, so the batch's good readings still reach `raw/`. (If the
invocation raised instead, Firehose would retry it and then send the whole batch, good records
too, to `processing-failed/`.)

`Dropped` and `ProcessingFailed` return the record's original data (Firehose requires `data` on
every record). The response is therefore never larger than the request plus a few bytes per
record; Firehose's Lambda buffer (at most 3 MB) keeps both far below the 6 MB payload limit.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from validator.envelope import RecordContext, decode_envelope
from validator.invalid_sink import InvalidRecord, S3Client, write_invalid
from validator.reading import InvalidReading, TimeWindow, parse_payload, validate_reading
from validator.settings import InvalidRecords, OutputFormat, Settings

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    records: list[dict[str, str]] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    invalid_keys: list[str] = field(default_factory=list)
    write_failed: int = 0  # invalid records sent to processing-failed: their write failed

    def problem_counts(self) -> Counter[str]:
        return Counter(record.problem for record in self.invalid)

    def response(self) -> dict[str, Any]:
        return {"records": self.records}


def render(reading: dict[str, Any], thing_name: str, arrival_ms: int, fmt: OutputFormat) -> bytes:
    """The `Ok` data for one reading."""
    document = {**reading, "thing_name": thing_name, "arrival_ms": arrival_ms}
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if fmt is OutputFormat.S3_LINES:
        text += "\n"
    return text.encode("utf-8")


def transform_record(
    record: dict[str, Any], fmt: OutputFormat, window: TimeWindow | None = None
) -> tuple[dict[str, str], InvalidRecord | None]:
    """One record's result, and its error line if it is invalid. Never raises."""
    record_id = str(record["recordId"])
    data = record.get("data", "")
    try:
        firehose_arrival_ms = int(record["approximateArrivalTimestamp"])
        context = RecordContext(record_id=record_id, payload_base64=str(data))
        try:
            envelope = decode_envelope(data, context)
            reading = validate_reading(
                parse_payload(envelope.payload),
                envelope.thing_name,
                window or TimeWindow(),
                envelope.arrival_ms,
            )
        except InvalidReading as err:
            invalid = InvalidRecord(
                record_id=record_id,
                reason=err.reason,
                problem=err.problem.value,
                thing_name=context.thing_name,
                arrival_ms=context.arrival_ms,
                payload_base64=context.payload_base64,
                firehose_arrival_ms=firehose_arrival_ms,
            )
            return {"recordId": record_id, "result": DROPPED, "data": str(data)}, invalid
        output = render(reading, envelope.thing_name, envelope.arrival_ms, fmt)
    except Exception:
        log.exception("record %s could not be processed", record_id)
        return {"recordId": record_id, "result": PROCESSING_FAILED, "data": str(data)}, None
    encoded = base64.b64encode(output).decode("ascii")
    return {"recordId": record_id, "result": OK, "data": encoded}, None


def transform_batch(
    event: dict[str, Any], fmt: OutputFormat, window: TimeWindow | None = None
) -> BatchResult:
    """Every record's result; raises ValueError if the event is not a transformation event."""
    records = event.get("records")
    if not isinstance(records, list):
        raise ValueError("event has no 'records' list: not a Firehose transformation event")
    result = BatchResult()
    for record in records:
        if not isinstance(record, dict) or "recordId" not in record:
            raise ValueError("a record has no 'recordId': not a Firehose transformation event")
        response, invalid = transform_record(record, fmt, window)
        result.records.append(response)
        if invalid is not None:
            result.invalid.append(invalid)
        elif response["result"] == OK:
            result.ok += 1
        else:
            result.failed += 1
    return result


def process_event(
    event: dict[str, Any], settings: Settings, s3_client: Callable[[], S3Client]
) -> BatchResult:
    """Transform a batch and, with INVALID_RECORDS=write, store its invalid records first.

    If they cannot be stored, those records (and only those) become `ProcessingFailed`."""
    result = transform_batch(event, settings.output_format, settings.window)
    if result.invalid and settings.invalid_records is InvalidRecords.WRITE:
        invocation_id = event.get("invocationId")
        if not isinstance(invocation_id, str) or not invocation_id:
            raise ValueError("event has no 'invocationId' to name the invalid-records object")
        assert settings.error_bucket is not None  # Settings.from_env guarantees it
        try:
            result.invalid_keys = write_invalid(
                s3_client(),
                settings.error_bucket,
                settings.error_prefix,
                invocation_id,
                result.invalid,
            )
        except Exception:
            log.exception(
                "could not write %d invalid record(s) to s3://%s/%s; they go to Firehose's "
                "processing-failed output instead",
                len(result.invalid),
                settings.error_bucket,
                settings.error_prefix,
            )
            _fail_invalid(result)
    return result


def _fail_invalid(result: BatchResult) -> None:
    """Turn the batch's `Dropped` records into `ProcessingFailed` (their data is kept)."""
    for response in result.records:
        if response["result"] == DROPPED:
            response["result"] = PROCESSING_FAILED
    result.failed += len(result.invalid)
    result.write_failed = len(result.invalid)
