"""Builders for Firehose transformation events as the rule's envelope arrives in them."""

from __future__ import annotations

import base64
import json
from typing import Any

THING = "sensehat-01"
ARRIVAL_MS = 1_718_000_000_123  # 2024-06-10T06:13:20.123Z


def good_reading(**changes: Any) -> dict[str, Any]:
    reading = {
        "schema": 1,
        "device_id": THING,
        "seq": 42,
        "ts": "2024-06-10T06:13:19.987Z",
        "temperature": 21.5,
        "humidity": 45.25,
        "pressure": 1013.2,
        "cpu_temp": 48.3,
        "temperature_raw": 30.1,
        "pitch": 1.5,
        "roll": 359.9,
        "yaw": 180,
        "flags": ["humidity_out_of_range"],
    }
    for key, value in changes.items():
        if value is ...:
            reading.pop(key)
        else:
            reading[key] = value
    return reading


def envelope(
    payload: bytes | dict[str, Any], thing_name: str = THING, arrival_ms: int = ARRIVAL_MS
) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "payload": base64.b64encode(raw).decode(),
        "thing_name": thing_name,
        "arrival_ms": arrival_ms,
        "client_id": thing_name,
    }


def record(
    data: dict[str, Any] | bytes, record_id: str = "r-1", approx_ms: int = ARRIVAL_MS + 900
) -> dict[str, Any]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {
        "recordId": record_id,
        "approximateArrivalTimestamp": approx_ms,
        "data": base64.b64encode(raw).decode(),
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000000",
            "partitionKey": THING,
            "approximateArrivalTimestamp": approx_ms,
            "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
            "subsequenceNumber": 0,
        },
    }


def event(*records: dict[str, Any], invocation_id: str = "inv-0001") -> dict[str, Any]:
    return {
        "invocationId": invocation_id,
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/raw",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/readings",
        "region": "us-east-1",
        "records": list(records),
    }


def decoded(result_record: dict[str, str]) -> bytes:
    return base64.b64decode(result_record["data"])
