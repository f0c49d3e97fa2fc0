"""Builders for Kinesis events carrying readings in the topic rule's envelope."""

from __future__ import annotations

import base64
import json
from typing import Any

THING = "sensehat-01"
OTHER = "sensehat-02"


def reading(seq: int, thing: str = THING, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": 1,
        "device_id": thing,
        "seq": seq,
        "ts": f"2024-06-10T06:{seq // 60 % 60:02d}:{seq % 60:02d}.000Z",
        "temperature": 21.0,
        "humidity": 45.0,
        "pressure": 1013.0,
    }
    return {**base, **values}


def kinesis_record(payload: dict[str, Any] | bytes, sequence: int, thing: str = THING) -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    envelope = {
        "payload": base64.b64encode(raw).decode(),
        "thing_name": thing,
        "arrival_ms": 1_718_000_000_000 + sequence,
        "client_id": "",
    }
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": thing,
            "sequenceNumber": f"{sequence:056d}",
            "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
            "approximateArrivalTimestamp": 1_718_000_000.0,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{sequence:056d}",
    }


def kinesis_event(readings: list[dict[str, Any]], first_sequence: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            kinesis_record(r, first_sequence + i, str(r.get("device_id", THING)))
            for i, r in enumerate(readings)
        ]
    }
