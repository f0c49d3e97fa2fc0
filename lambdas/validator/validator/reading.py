"""Reading schema 1: the one table of fields, types and valid ranges (CONTRACTS.md "Reading").

`FIELDS` is the only place the cloud's contract for a reading is written down. The validator
checks every reading against it, and the device's tests check the publisher against it
(`from validator.reading import FIELDS, validate_reading`).

Decisions beyond the CONTRACTS.md table:
- Schema 1 is closed: a field that is not in `FIELDS` is rejected (reason names the field), so no
  data is silently left out of the output; a new field needs a new schema version.
- A JSON object with the same key twice is rejected (which value is meant is ambiguous).
- Numbers must be finite; `true`/`false` are not numbers; `schema` and `seq` must be JSON integers
  (`1.0` is rejected).
- `flags`: at most `MAX_FLAGS` strings, each matching `FLAG_PATTERN`.
- The payload may be at most `MAX_PAYLOAD_BYTES` (IoT Core's message size limit).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 128 * 1024
THING_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
TS_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
FLAG_PATTERN = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")
MAX_FLAGS = 32
MAX_SEQ = 2**63 - 1  # Athena bigint
SHOWN_VALUE_CHARS = 60  # how much of a bad value a reason quotes


class Kind(Enum):
    """The JSON type a field must have."""

    INTEGER = "an integer"
    NUMBER = "a number"
    STRING = "a string"
    STRING_LIST = "an array of strings"


class Problem(Enum):
    """Why a record was rejected; the value is the metric dimension and a stable code."""

    MALFORMED_ENVELOPE = "malformed_envelope"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    DUPLICATE_FIELD = "duplicate_field"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_FORMAT = "bad_format"
    UNSUPPORTED_SCHEMA = "unsupported_schema"
    DEVICE_MISMATCH = "device_mismatch"


class InvalidReading(ValueError):
    """A record that does not meet the contract; `reason` says which field and what is wrong."""

    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class FieldSpec:
    """One row of the reading table."""

    name: str
    kind: Kind
    required: bool
    minimum: float | None = None
    maximum: float | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""  # how a reason describes `pattern`
    unit: str = ""


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("schema", Kind.INTEGER, True, SCHEMA_VERSION, SCHEMA_VERSION),
    FieldSpec(
        "device_id",
        Kind.STRING,
        True,
        pattern=THING_NAME_PATTERN,
        pattern_text="1-128 characters of letters, digits, ':', '_', '-'",
    ),
    FieldSpec("seq", Kind.INTEGER, True, 0, MAX_SEQ),
    FieldSpec(
        "ts",
        Kind.STRING,
        True,
        pattern=TS_PATTERN,
        pattern_text="UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ",
    ),
    FieldSpec("temperature", Kind.NUMBER, True, -40, 120, unit="degC"),
    FieldSpec("humidity", Kind.NUMBER, True, 0, 100, unit="%RH"),
    FieldSpec("pressure", Kind.NUMBER, True, 260, 1260, unit="hPa"),
    FieldSpec("cpu_temp", Kind.NUMBER, False, -40, 150, unit="degC"),
    FieldSpec("temperature_raw", Kind.NUMBER, False, -40, 120, unit="degC"),
    FieldSpec("pitch", Kind.NUMBER, False, 0, 360, unit="degrees"),
    FieldSpec("roll", Kind.NUMBER, False, 0, 360, unit="degrees"),
    FieldSpec("yaw", Kind.NUMBER, False, 0, 360, unit="degrees"),
    FieldSpec(
        "flags",
        Kind.STRING_LIST,
        False,
        0,
        MAX_FLAGS,
        pattern=FLAG_PATTERN,
        pattern_text="1-64 characters of letters, digits, '_', ':', '.', '-'",
    ),
)
FIELDS_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in FIELDS}
REQUIRED_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS if spec.required)


def show(value: Any) -> str:
    """A value as JSON, cut short so a reason stays readable whatever the input."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > SHOWN_VALUE_CHARS:
        return f"{text[:SHOWN_VALUE_CHARS]}... ({len(text)} characters)"
    return text


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_payload(payload: bytes) -> dict[str, Any]:
    """The MQTT payload as a JSON object, or InvalidReading (size, UTF-8, JSON, object)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidReading(
            Problem.PAYLOAD_TOO_LARGE,
            f"payload is {len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit",
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidReading(
            Problem.NOT_UTF8,
            f"payload is not valid UTF-8: byte 0x{payload[err.start]:02x} at offset {err.start}",
        ) from err
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except _DuplicateKeyError as err:
        raise InvalidReading(Problem.DUPLICATE_FIELD, str(err)) from err
    except ValueError as err:
        raise InvalidReading(Problem.MALFORMED_JSON, f"payload is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise InvalidReading(
            Problem.NOT_AN_OBJECT, f"payload is a JSON {json_type(value)}, not a JSON object"
        )
    return value


def validate_reading(reading: dict[str, Any], thing_name: str) -> dict[str, Any]:
    """Check a decoded reading against `FIELDS` and the topic's thing name.

    Returns the reading's fields in table order. Raises InvalidReading whose reason lists every
    problem found (separated by '; ') and whose `problem` is the first one's kind.
    """
    problems: list[tuple[Problem, str]] = []
    for name in reading:
        if name not in FIELDS_BY_NAME:
            problems.append(
                (Problem.UNKNOWN_FIELD, f"unknown field {show(name)} (not in reading schema 1)")
            )
    for spec in FIELDS:
        if spec.name not in reading:
            if spec.required:
                problems.append((Problem.MISSING_FIELD, f"missing required field '{spec.name}'"))
            continue
        found = check_field(spec, reading[spec.name])
        if found is not None:
            problems.append(found)
    device_id = reading.get("device_id")
    if (
        isinstance(device_id, str)
        and THING_NAME_PATTERN.fullmatch(device_id)
        and device_id != thing_name
    ):
        problems.append(
            (
                Problem.DEVICE_MISMATCH,
                f"field 'device_id': {show(device_id)} is not the topic's thing name "
                f"{show(thing_name)} (a device may only publish its own readings)",
            )
        )
    if problems:
        raise InvalidReading(problems[0][0], "; ".join(reason for _, reason in problems))
    return {spec.name: reading[spec.name] for spec in FIELDS if spec.name in reading}


def check_field(spec: FieldSpec, value: Any) -> tuple[Problem, str] | None:
    """The first problem with one field's value, or None."""
    where = f"field '{spec.name}'"
    if spec.kind is Kind.STRING_LIST:
        return _check_list(spec, value, where)
    if not _has_kind(value, spec.kind):
        return Problem.WRONG_TYPE, f"{where}: expected {spec.kind.value}, got {_got(value)}"
    if spec.kind is Kind.STRING:
        return _check_text(spec, value, where)
    return _check_range(spec, value)


def _has_kind(value: Any, kind: Kind) -> bool:
    if isinstance(value, bool):
        return False
    if kind is Kind.INTEGER:
        return isinstance(value, int)
    if kind is Kind.NUMBER:
        return isinstance(value, int | float)
    return isinstance(value, str)


def _check_range(spec: FieldSpec, value: float) -> tuple[Problem, str] | None:
    low, high = spec.minimum, spec.maximum
    if math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high):
        return None
    if spec.name == "schema":
        return (
            Problem.UNSUPPORTED_SCHEMA,
            f"field 'schema': {show(value)} is not a supported schema version "
            f"(expected {SCHEMA_VERSION})",
        )
    unit = f" {spec.unit}" if spec.unit else ""
    return (
        Problem.OUT_OF_RANGE,
        f"field '{spec.name}': {show(value)} is out of range ({_num(low)} .. {_num(high)}{unit})",
    )


def _check_text(spec: FieldSpec, value: str, where: str) -> tuple[Problem, str] | None:
    if spec.pattern is not None and not spec.pattern.fullmatch(value):
        return Problem.BAD_FORMAT, f"{where}: {show(value)} is not {spec.pattern_text}"
    if spec.name == "ts":
        try:
            datetime.strptime(value, TS_FORMAT)
        except ValueError:
            return Problem.BAD_FORMAT, f"{where}: {show(value)} is not a real date and time"
    return None


def _check_list(spec: FieldSpec, value: Any, where: str) -> tuple[Problem, str] | None:
    if not isinstance(value, list):
        return Problem.WRONG_TYPE, f"{where}: expected {spec.kind.value}, got {_got(value)}"
    if spec.maximum is not None and len(value) > spec.maximum:
        return (
            Problem.OUT_OF_RANGE,
            f"{where}: {len(value)} items, at most {_num(spec.maximum)} allowed",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            return (
                Problem.WRONG_TYPE,
                f"{where}[{index}]: expected a string, got {_got(item)}",
            )
        if spec.pattern is not None and not spec.pattern.fullmatch(item):
            return Problem.BAD_FORMAT, f"{where}[{index}]: {show(item)} is not {spec.pattern_text}"
    return None


def _got(value: Any) -> str:
    return f"{json_type(value)} {show(value)}"


def _num(value: float | None) -> str:
    if value is None:
        return "unbounded"
    return str(int(value)) if float(value).is_integer() else str(value)


class _DuplicateKeyError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"field {show(key)} appears more than once in the payload")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
