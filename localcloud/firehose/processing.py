"""Data transformation: the Lambda processor's event, its response, and the error records.

Follows "Transform source data in Amazon Data Firehose": records are sent to the function in the
documented event shape (`invocationId`, `deliveryStreamArn`, `sourceKinesisStreamArn`, `region`,
`records[]` with `recordId`, `approximateArrivalTimestamp` in ms, base64 `data` and
`kinesisRecordMetadata`), at most the processor's `BufferSizeInMBs` per invocation. Each returned
record must carry a known `recordId` and a `result` of `Ok`, `Dropped` or `ProcessingFailed`.
A failed invocation (the function raised, or its response breaks the status model) is retried
`NumberOfRetries` times; after that its records count as unsuccessfully processed. Unsuccessfully
processed records are written to the error output as Firehose's JSON error records
(`attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`,
`rawData`, `lambdaArn`), one per line.

Differences from AWS:
- Records are sent to the processor when the delivery buffer is delivered, in chunks of the
  processor's buffer size; the processor's own `BufferIntervalInSeconds` is not used.
- An invocation keeps its `invocationId` across retries (Firehose does not document either way).
- A record returned as `ProcessingFailed` gets errorCode `Lambda.ProcessingFailedStatus`; a
  function error after its retries gets `Lambda.FunctionError` with the function's error text.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from localcloud.firehose.config import DeliveryStreamConfig, LambdaProcessor
from localcloud.kinesis.consumer import SourceRecord

Processor = Callable[[dict[str, Any]], Any]
RESULTS: Final = ("Ok", "Dropped", "ProcessingFailed")
PAYLOAD_LIMIT_BYTES: Final = 4_500_000  # raw bytes that still fit Lambda's 6 MB once base64-encoded

log = logging.getLogger("localcloud.firehose")


class InvalidProcessorResponse(Exception):
    """The function's response breaks Firehose's status model."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FailedRecord:
    source: SourceRecord
    attempts: int
    error_code: str
    error_message: str
    ending_ms: int

    def to_json_line(self, lambda_arn: str) -> bytes:
        record = {
            "attemptsMade": self.attempts,
            "arrivalTimestamp": self.source.arrival_ms,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "attemptEndingTimestamp": self.ending_ms,
            "rawData": base64.b64encode(self.source.data).decode("ascii"),
            "lambdaArn": lambda_arn,
        }
        return json.dumps(record).encode("utf-8") + b"\n"


@dataclass
class ProcessingOutcome:
    """What processing made of a buffer: records to deliver (with their new data), records the
    function dropped, and records that failed."""

    ok: list[tuple[SourceRecord, bytes]] = field(default_factory=list)
    dropped: list[SourceRecord] = field(default_factory=list)
    failed: list[FailedRecord] = field(default_factory=list)


def record_id(record: SourceRecord, position: int) -> str:
    """A record id unique within one invocation (moto numbers each shard from the same start, so
    the sequence number alone is not unique across shards)."""
    return f"{record.sequence_number}{position:012d}"


def transformation_event(
    config: DeliveryStreamConfig, invocation_id: str, records: Sequence[SourceRecord]
) -> tuple[dict[str, Any], dict[str, SourceRecord]]:
    """The event Firehose sends to a transformation Lambda, and the records by record id."""
    by_id: dict[str, SourceRecord] = {}
    items = []
    for position, record in enumerate(records):
        rid = record_id(record, position)
        by_id[rid] = record
        items.append(
            {
                "recordId": rid,
                "approximateArrivalTimestamp": record.arrival_ms,
                "data": base64.b64encode(record.data).decode("ascii"),
                "kinesisRecordMetadata": {
                    "shardId": record.shard_id,
                    "partitionKey": record.partition_key,
                    "approximateArrivalTimestamp": record.arrival_ms,
                    "sequenceNumber": record.sequence_number,
                    "subsequenceNumber": 0,
                },
            }
        )
    event = {
        "invocationId": invocation_id,
        "deliveryStreamArn": config.arn,
        "sourceKinesisStreamArn": config.source_stream_arn,
        "region": config.region,
        "records": items,
    }
    return event, by_id


def interpret_response(response: Any, expected: set[str]) -> dict[str, tuple[str, bytes]]:
    """Map record id -> (result, decoded data), or raise InvalidProcessorResponse."""
    if not isinstance(response, dict) or not isinstance(response.get("records"), list):
        raise InvalidProcessorResponse(
            "Lambda.JsonProcessingException",
            "the response is not an object with a 'records' list",
        )
    results: dict[str, tuple[str, bytes]] = {}
    for item in response["records"]:
        if not isinstance(item, dict) or not isinstance(item.get("recordId"), str):
            raise InvalidProcessorResponse(
                "Lambda.JsonProcessingException", f"a returned record has no recordId: {item!r}"
            )
        rid = item["recordId"]
        if rid in results:
            raise InvalidProcessorResponse(
                "Lambda.DuplicatedRecordId", f"record id {rid} was returned more than once"
            )
        if rid not in expected:
            raise InvalidProcessorResponse(
                "Lambda.JsonProcessingException", f"record id {rid} was not sent to the function"
            )
        result = item.get("result")
        if result not in RESULTS:
            raise InvalidProcessorResponse(
                "Lambda.JsonProcessingException",
                f"record {rid} has result {result!r}; expected one of {', '.join(RESULTS)}",
            )
        data = b""
        if result == "Ok":
            try:
                data = base64.b64decode(item.get("data"), validate=True)
            except (TypeError, ValueError, binascii.Error) as err:
                raise InvalidProcessorResponse(
                    "Lambda.JsonProcessingException",
                    f"record {rid} has result Ok but its data is not base64: {err}",
                ) from err
        results[rid] = (result, data)
    missing = expected - results.keys()
    if missing:
        raise InvalidProcessorResponse(
            "Lambda.MissingRecordId",
            f"{len(missing)} record id(s) were not returned, e.g. {sorted(missing)[0]}",
        )
    return results


def chunks(records: Sequence[SourceRecord], max_bytes: int) -> list[list[SourceRecord]]:
    """Split `records` into invocations of at most `max_bytes` of data (at least one record)."""
    limit = max(1, min(max_bytes, PAYLOAD_LIMIT_BYTES))
    out: list[list[SourceRecord]] = []
    current: list[SourceRecord] = []
    size = 0
    for record in records:
        if current and size + len(record.data) > limit:
            out.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record.data)
    if current:
        out.append(current)
    return out


def _now_ms() -> int:
    return int(time.time() * 1000)


def process(
    config: DeliveryStreamConfig,
    settings: LambdaProcessor,
    processor: Processor,
    records: Sequence[SourceRecord],
    retry_delay_seconds: float = 0.2,
) -> ProcessingOutcome:
    """Run the transformation function over `records`, honouring Firehose's status model."""
    outcome = ProcessingOutcome()
    for chunk in chunks(records, settings.buffer_size_bytes):
        invocation_id = str(uuid.uuid4())
        event, by_id = transformation_event(config, invocation_id, chunk)
        attempts = 0
        while True:
            attempts += 1
            try:
                results = interpret_response(processor(event), set(by_id))
            except InvalidProcessorResponse as err:
                code, message = err.code, err.message
            except Exception as err:  # the function failed: retried like Firehose does
                code = "Lambda.FunctionError"
                message = f"The Lambda function returned an error: {err}"
            else:
                for rid, (result, data) in results.items():
                    source = by_id[rid]
                    if result == "Ok":
                        outcome.ok.append((source, data))
                    elif result == "Dropped":
                        outcome.dropped.append(source)
                    else:
                        outcome.failed.append(
                            FailedRecord(
                                source,
                                attempts,
                                "Lambda.ProcessingFailedStatus",
                                "The Lambda function returned the ProcessingFailed status",
                                _now_ms(),
                            )
                        )
                break
            if attempts > settings.number_of_retries:
                log.warning(
                    "%s: invocation %s failed %d time(s), %d record(s) to the error output: %s",
                    config.name,
                    invocation_id,
                    attempts,
                    len(chunk),
                    message,
                )
                ending = _now_ms()
                outcome.failed.extend(
                    FailedRecord(source, attempts, code, message, ending) for source in chunk
                )
                break
            time.sleep(retry_delay_seconds * attempts)
    # keep the delivered order identical to the source order
    order = {id(record): n for n, record in enumerate(records)}
    outcome.ok.sort(key=lambda pair: order[id(pair[0])])
    return outcome
