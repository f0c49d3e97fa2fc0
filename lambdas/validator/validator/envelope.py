"""The topic rule's envelope around each MQTT payload (CONTRACTS.md "IoT topic rule").

Each Firehose record's data is the JSON object the rule selects:
`{"payload": <base64 of the MQTT payload>, "thing_name", "arrival_ms", "client_id"}`.
Other keys are ignored, so the rule may add to its envelope without breaking the validator.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from validator.reading import THING_NAME_PATTERN, InvalidReading, Problem, json_type, show


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_base64: str
    thing_name: str
    arrival_ms: int
    client_id: str


@dataclass
class RecordContext:
    """What is known about a record for its error line, filled in as decoding gets further."""

    record_id: str
    payload_base64: str
    thing_name: str | None = None
    arrival_ms: int | None = None


def decode_envelope(data_base64: str, context: RecordContext) -> Envelope:
    """Decode one Firehose record's data; raise InvalidReading(MALFORMED_ENVELOPE) if unusable.

    `context` receives the envelope's payload, thing name and arrival time as soon as they are
    readable, so a rejected record's error line carries as much as could be recovered.
    """
    raw = _b64decode(data_base64, "record data")
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise _bad(f"record data is not a JSON object: {err}") from err
    if not isinstance(envelope, dict):
        raise _bad(f"record data is a JSON {json_type(envelope)}, not an object")
    _recover(envelope, context)
    payload_base64 = _field(envelope, "payload", str)
    thing_name = _field(envelope, "thing_name", str)
    arrival_ms = _field(envelope, "arrival_ms", int)
    client_id = _field(envelope, "client_id", str)
    if not THING_NAME_PATTERN.fullmatch(thing_name):
        raise _bad(f"envelope 'thing_name' {show(thing_name)} is not a valid thing name")
    if arrival_ms < 0:
        raise _bad(f"envelope 'arrival_ms' {arrival_ms} is negative")
    payload = _b64decode(payload_base64, "envelope 'payload'")
    return Envelope(payload, payload_base64, thing_name, arrival_ms, client_id)


def _recover(envelope: dict[str, Any], context: RecordContext) -> None:
    if isinstance(envelope.get("payload"), str):
        context.payload_base64 = envelope["payload"]
    if isinstance(envelope.get("thing_name"), str):
        context.thing_name = envelope["thing_name"]
    arrival = envelope.get("arrival_ms")
    if isinstance(arrival, int) and not isinstance(arrival, bool):
        context.arrival_ms = arrival


def _field(envelope: dict[str, Any], name: str, kind: type) -> Any:
    if name not in envelope:
        raise _bad(f"envelope has no '{name}'")
    value = envelope[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is int else "a string"
        raise _bad(f"envelope '{name}' must be {expected}, got {json_type(value)} {show(value)}")
    return value


def _b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _bad(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _bad(f"{what} is not valid base64: {err}") from err


def _bad(reason: str) -> InvalidReading:
    return InvalidReading(Problem.MALFORMED_ENVELOPE, reason)
