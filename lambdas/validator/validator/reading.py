"""Reading schema 1: the one table of fields, types and valid ranges (CONTRACTS.md "Reading").

`FIELDS` is the only place the cloud's contract for a reading is written down. The validator
checks every reading against it, and the device's tests check the publisher against it
(`from validator.reading import FIELDS, validate_reading`).

Decisions beyond the CONTRACTS.md table:
- Schema 1 is closed: a field that is not in `FIELDS` is rejected (reason names the field), so no
  data is silently left out of the output; a new field needs a new schema version.
- A JSON object with the same key twice is rejected (which value is meant is ambiguous).
- An optional measurement (`pressure`, `cpu_temp`, ...) may be absent or `null`: the device did
  not measure it. Either way it is stored and indexed as null, never as a made-up value; a
  required field that is `null` is a wrong type.
- Numbers must be finite; `true`/`false` are not numbers; `schema` and `seq` must be JSON integers
  (`1.0` is rejected).
- `flags`: at most `MAX_FLAGS` strings, each matching `FLAG_PATTERN`.
- The payload may be at most `MAX_PAYLOAD_BYTES` (IoT Core's message size limit), nest at most
  `MAX_DEPTH` arrays/objects deep (checked before decoding, far below the interpreter's recursion
  limit) and have at most `MAX_KEYS` keys in any object.
- `ts` must lie in the plausible window (`TimeWindow`): not before the first date the tables
  cover, not later than the record's arrival plus the allowed clock skew. A reading outside it
  would be stored where no query finds it (partition projection covers only that range).

Every function here is total over its input: any bytes give a reading or an `InvalidReading`
whose reason is ASCII (surrogates and other characters escaped) and at most
`MAX_REASON_CHARS` long, naming the first problems found. Nothing else is raised.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import lru_cache
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
MAX_DEPTH = 16  # arrays/objects inside one another; a reading needs 2
MAX_KEYS = 64  # keys of one JSON object; schema 1 has 13 fields
MAX_REASON_CHARS = 1000  # a reason is ASCII, so this is also its size in bytes
DEFAULT_EARLIEST_DATE = date(2015, 1, 1)
DEFAULT_MAX_FUTURE = timedelta(minutes=15)


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
    TOO_DEEP = "too_deep"
    TOO_MANY_KEYS = "too_many_keys"
    IMPLAUSIBLE_TIME = "implausible_time"


class InvalidReading(ValueError):
    """A record that does not meet the contract; `reason` says which field and what is wrong.

    The reason is made ASCII and cut to `MAX_REASON_CHARS` here, whoever raises."""

    def __init__(self, problem: Problem, reason: str) -> None:
        reason = cap_reason(reason)
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


def cap_reason(reason: str) -> str:
    """`reason` as ASCII (other characters as \\u escapes), at most `MAX_REASON_CHARS` long."""
    text = reason.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) <= MAX_REASON_CHARS:
        return text
    cut = f"... ({len(text)} characters in all)"
    return text[: MAX_REASON_CHARS - len(cut)] + cut


def join_reasons(reasons: list[str]) -> str:
    """The first reasons that fit in `MAX_REASON_CHARS`, and how many more there were."""
    shown: list[str] = []
    used = 0
    for index, reason in enumerate(reasons):
        rest = len(reasons) - index - 1
        tail = len(f"; and {rest} more problems") if rest else 0
        if used + len(reason) + 2 + tail > MAX_REASON_CHARS and shown:
            return "; ".join(shown) + f"; and {len(reasons) - index} more problems"
        shown.append(reason)
        used += len(reason) + 2
    return "; ".join(shown)


@dataclass(frozen=True)
class TimeWindow:
    """Where a reading's `ts` is plausible: from `earliest` (00:00 UTC) to arrival + `max_future`.

    The start is the tables' `projectionStartDate`; the end is relative to the record's arrival
    at the topic rule (`arrival_ms`), not to the validator's clock, so a retried batch gets the
    same answer.
    """

    earliest: date = DEFAULT_EARLIEST_DATE
    max_future: timedelta = DEFAULT_MAX_FUTURE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TimeWindow:
        """`READINGS_EARLIEST_DATE` (YYYY-MM-DD) and `READINGS_MAX_FUTURE_MINUTES`; defaults
        where unset. A bad value raises ValueError naming the variable."""
        earliest = env.get("READINGS_EARLIEST_DATE", "").strip()
        minutes = env.get("READINGS_MAX_FUTURE_MINUTES", "").strip()
        try:
            start = date.fromisoformat(earliest) if earliest else DEFAULT_EARLIEST_DATE
        except ValueError as err:
            raise ValueError(f"READINGS_EARLIEST_DATE {earliest!r} is not YYYY-MM-DD") from err
        if minutes and not minutes.isdigit():
            raise ValueError(f"READINGS_MAX_FUTURE_MINUTES {minutes!r} is not a whole number")
        future = timedelta(minutes=int(minutes)) if minutes else DEFAULT_MAX_FUTURE
        return cls(start, future)

    def problem(self, ts: datetime, arrival_ms: int) -> str | None:
        """Why `ts` (naive UTC) is implausible for a record that arrived at `arrival_ms`."""
        shown = f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"
        if ts.date() < self.earliest:
            return (
                f"field 'ts': {shown} is before {self.earliest.isoformat()}, the first date the "
                "tables cover (device clock not set? a Pi without a real-time clock starts at "
                "1970 or at its last saved time until NTP synchronises it)"
            )
        arrival = datetime.fromtimestamp(arrival_ms / 1000, tz=UTC).replace(tzinfo=None)
        ahead = ts - arrival
        if ahead > self.max_future:
            minutes = int(self.max_future.total_seconds() // 60)
            return (
                f"field 'ts': {shown} is {_duration(ahead)} after the reading arrived "
                f"({arrival:%Y-%m-%dT%H:%M:%S}Z), more than the {minutes} minutes allowed "
                "(device clock wrong?)"
            )
        return None


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"


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
    FieldSpec("pressure", Kind.NUMBER, False, 260, 1260, unit="hPa"),
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
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = ascii(value)
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
    """The MQTT payload as a JSON object, or InvalidReading (size, UTF-8, depth, JSON, keys,
    object)."""
    if not isinstance(payload, bytes | bytearray):
        raise InvalidReading(Problem.MALFORMED_JSON, f"payload is {type(payload).__name__}")
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
    depth = nesting_depth(text, MAX_DEPTH)
    if depth > MAX_DEPTH:
        raise InvalidReading(
            Problem.TOO_DEEP,
            f"payload nests arrays and objects more than {MAX_DEPTH} levels deep "
            "(a reading needs 2)",
        )
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except _PayloadProblem as err:
        raise InvalidReading(err.problem, str(err)) from err
    except (ValueError, RecursionError) as err:
        raise InvalidReading(Problem.MALFORMED_JSON, f"payload is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise InvalidReading(
            Problem.NOT_AN_OBJECT, f"payload is a JSON {json_type(value)}, not a JSON object"
        )
    return value


def nesting_depth(text: str, stop_above: int) -> int:
    """How deep arrays and objects nest in JSON `text` (brackets inside strings not counted).

    Stops counting once past `stop_above`. Linear in the text; a reading has 2 brackets and
    returns at once."""
    if text.count("[") + text.count("{") <= stop_above:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def validate_reading(
    reading: dict[str, Any],
    thing_name: str,
    window: TimeWindow | None = None,
    arrival_ms: int | None = None,
) -> dict[str, Any]:
    """Check a decoded reading against `FIELDS`, the topic's thing name and, given a `window`
    and the record's `arrival_ms`, the plausible time window.

    Returns the reading's fields in table order. Raises InvalidReading whose reason lists the
    problems found (separated by '; ', the first ones up to `MAX_REASON_CHARS`) and whose
    `problem` is the first one's kind.
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
        if reading[spec.name] is None and spec.kind is Kind.NUMBER and not spec.required:
            continue  # an optional measurement the device did not take: null, as if absent
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
    if window is not None and arrival_ms is not None:
        when = _timestamp(reading.get("ts"))
        late = None if when is None else window.problem(when, arrival_ms)
        if late is not None:
            problems.append((Problem.IMPLAUSIBLE_TIME, late))
    if problems:
        raise InvalidReading(problems[0][0], join_reasons([reason for _, reason in problems]))
    return {spec.name: reading[spec.name] for spec in FIELDS if spec.name in reading}


def _timestamp(value: Any) -> datetime | None:
    """A `ts` value as a naive UTC datetime, or None when it is not a valid one."""
    if not isinstance(value, str) or not TS_PATTERN.fullmatch(value):
        return None
    return _parsed_ts(value)


@lru_cache(maxsize=64)
def _parsed_ts(value: str) -> datetime | None:
    """The field check and the time-window check both need `ts`: it is parsed once."""
    try:
        return datetime.strptime(value, TS_FORMAT)
    except ValueError:
        return None


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
    # An int is compared exactly: math.isfinite would raise OverflowError past float's range.
    finite = isinstance(value, int) or math.isfinite(value)
    if finite and (low is None or value >= low) and (high is None or value <= high):
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
    if spec.name == "ts" and _timestamp(value) is None:
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


class _PayloadProblem(ValueError):
    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_KEYS:
        raise _PayloadProblem(
            Problem.TOO_MANY_KEYS,
            f"a JSON object in the payload has {len(pairs)} keys, more than the {MAX_KEYS} "
            "allowed (a reading has at most 13)",
        )
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _PayloadProblem(
                Problem.DUPLICATE_FIELD, f"field {show(key)} appears more than once in the payload"
            )
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
