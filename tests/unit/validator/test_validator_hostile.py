"""Hostile payloads: the validator is a total function of the bytes it is given.

Whatever a broken or hostile device sends, each record ends `Ok` or `Dropped` with a reason of at
most 1,000 ASCII characters, its error line can be written, and the other records of the batch
are untouched. The named cases are the ones that used to raise; the properties cover the rest.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validator_events import ARRIVAL_MS, THING, envelope, event, good_reading, record

from validator.invalid_sink import write_invalid
from validator.reading import (
    MAX_DEPTH,
    MAX_KEYS,
    MAX_REASON_CHARS,
    InvalidReading,
    Problem,
    TimeWindow,
    join_reasons,
    nesting_depth,
    parse_payload,
    validate_reading,
)
from validator.settings import OutputFormat
from validator.transform import transform_batch, transform_record


class RecordingS3:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def put_object(self, **kwargs: Any) -> None:
        self.bodies.append(kwargs["Body"])


def payload_of(text: str) -> bytes:
    """JSON text as a device would send it; escapes such as \\ud800 stay escapes."""
    return text.encode("utf-8")


def dropped(payload: bytes, **changes: Any) -> str:
    """The reason a lone record with this MQTT payload is dropped for."""
    response, invalid = transform_record(
        record(envelope(payload, **changes)), OutputFormat.S3_LINES
    )
    assert response["result"] == "Dropped", response
    assert invalid is not None
    assert len(invalid.reason) <= MAX_REASON_CHARS
    assert invalid.reason.isascii()
    line = invalid.line().encode("utf-8")  # used to raise UnicodeEncodeError on surrogates
    assert json.loads(line)["reason"] == invalid.reason
    return invalid.reason


HOSTILE = {
    "lone-surrogate-in-flags": payload_of(
        json.dumps(good_reading()).replace('"humidity_out_of_range"', '"\\ud800"')
    ),
    "lone-surrogate-in-a-key": payload_of(json.dumps(good_reading())[:-1] + ', "\\udfff": 1}'),
    "lone-surrogate-as-device": payload_of(
        json.dumps(good_reading()).replace(f'"{THING}"', '"\\ud800x"')
    ),
    "arrays-10000-deep": b"[" * 10_000 + b"]" * 10_000,
    "objects-10000-deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "deep-inside-a-reading": payload_of(
        json.dumps(good_reading())[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    ),
    "10000-keys": payload_of(json.dumps({f"k{n}": n for n in range(10_000)}, separators=",:")),
    "huge-integer-temperature": payload_of(json.dumps(good_reading(temperature=10**400))),
    "huge-integer-seq": payload_of(json.dumps(good_reading(seq=10**300))),
    "number-overflowing-to-infinity": payload_of(
        json.dumps(good_reading()).replace("21.5", "1e999")
    ),
    "digits-past-the-integer-limit": payload_of(
        json.dumps(good_reading()).replace("21.5", "9" * 5000)
    ),
    "clock-not-set": payload_of(json.dumps(good_reading(ts="1970-01-01T00:00:05.000Z"))),
    "far-future": payload_of(json.dumps(good_reading(ts="9999-12-31T23:59:59.999Z"))),
    "45-unknown-fields": payload_of(
        json.dumps({**good_reading(), **{f"unknown_{n:02d}_{'x' * 40}": n for n in range(45)}})
    ),
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_payload_is_dropped_with_a_short_ascii_reason(payload):
    dropped(payload)


def test_a_lone_surrogate_is_named_escaped_in_the_reason():
    reason = dropped(HOSTILE["lone-surrogate-in-flags"])
    assert "field 'flags'[0]" in reason
    assert "\\ud800" in reason


def test_deep_nesting_is_refused_before_decoding():
    with pytest.raises(InvalidReading) as caught:
        parse_payload(HOSTILE["arrays-10000-deep"])
    assert caught.value.problem is Problem.TOO_DEEP
    assert f"more than {MAX_DEPTH} levels deep" in caught.value.reason


def test_an_object_with_too_many_keys_is_refused():
    with pytest.raises(InvalidReading) as caught:
        parse_payload(HOSTILE["10000-keys"])
    assert caught.value.problem is Problem.TOO_MANY_KEYS
    assert "has 10000 keys" in caught.value.reason


def test_many_problems_are_cut_to_the_first_ones_with_a_count():
    reason = dropped(HOSTILE["45-unknown-fields"])
    assert reason.startswith('unknown field "unknown_00_')
    assert reason.endswith("more problems")
    assert len(reason) <= MAX_REASON_CHARS


def test_huge_integers_are_out_of_range_not_an_error():
    assert "field 'temperature'" in dropped(HOSTILE["huge-integer-temperature"])
    assert "field 'seq'" in dropped(HOSTILE["huge-integer-seq"])


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("1970-01-01T00:00:05.000Z", "is before 2015-01-01, the first date the tables cover"),
        ("2014-12-31T23:59:59.999Z", "device clock not set?"),
        ("9999-12-31T23:59:59.999Z", "device clock wrong?"),
        ("2024-06-10T06:28:20.124Z", "15 minutes after the reading arrived"),
    ],
)
def test_timestamps_outside_the_plausible_window_are_invalid(ts, expected):
    reason = dropped(payload_of(json.dumps(good_reading(ts=ts))))
    assert expected in reason


@pytest.mark.parametrize(
    "ts",
    ["2015-01-01T00:00:00.000Z", "2024-06-10T06:28:20.123Z", "2024-06-10T06:13:19.987Z"],
)
def test_timestamps_at_the_edges_of_the_window_are_valid(ts):
    # ARRIVAL_MS is 2024-06-10T06:13:20.123Z; the default window allows 15 minutes ahead.
    reading = good_reading(ts=ts)
    assert validate_reading(reading, THING, TimeWindow(), ARRIVAL_MS) == reading


def test_the_window_comes_from_the_environment():
    window = TimeWindow.from_env(
        {"READINGS_EARLIEST_DATE": "2024-06-10", "READINGS_MAX_FUTURE_MINUTES": "1"}
    )
    late = good_reading(ts="2024-06-10T06:14:20.124Z")
    with pytest.raises(InvalidReading, match="more than the 1 minutes allowed"):
        validate_reading(late, THING, window, ARRIVAL_MS)
    with pytest.raises(InvalidReading, match="before 2024-06-10"):
        validate_reading(good_reading(ts="2024-06-09T23:59:59.999Z"), THING, window, ARRIVAL_MS)
    with pytest.raises(ValueError, match="READINGS_MAX_FUTURE_MINUTES"):
        TimeWindow.from_env({"READINGS_MAX_FUTURE_MINUTES": "soon"})


def test_good_readings_around_every_hostile_payload_are_kept():
    payloads = []
    for seq, bad in enumerate(HOSTILE.values()):
        payloads += [json.dumps(good_reading(seq=2 * seq)).encode(), bad]
    payloads.append(json.dumps(good_reading(seq=999)).encode())
    records = [record(envelope(p), f"r{n}") for n, p in enumerate(payloads)]
    result = transform_batch(event(*records), OutputFormat.S3_LINES)
    results = [r["result"] for r in result.records]
    assert results == ["Ok", "Dropped"] * len(HOSTILE) + ["Ok"]
    s3 = RecordingS3()
    write_invalid(s3, "bucket", "errors/invalid/", "inv-1", result.invalid)
    lines = b"".join(s3.bodies).decode("utf-8").splitlines()
    assert len(lines) == len(HOSTILE)


# --- properties ---------------------------------------------------------------------------

ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)  # surrogates included
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(ANY_CHARACTER, max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(ANY_CHARACTER, max_size=12), children, max_size=5)
    ),
    max_leaves=40,
)
FIELD_NAMES = st.sampled_from([*good_reading(), "padding", "\ud800"])
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


def assert_total(payload: bytes) -> None:
    response, invalid = transform_record(record(envelope(payload)), OutputFormat.S3_LINES)
    assert response["result"] in {"Ok", "Dropped"}
    if invalid is not None:
        assert len(invalid.reason) <= MAX_REASON_CHARS
        assert invalid.reason.isascii()
        invalid.line().encode("utf-8")
    else:
        data = json.loads(base64.b64decode(response["data"]))
        assert data["device_id"] == THING


@PROPERTY_SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_give_ok_or_dropped(payload):
    assert_total(payload)


@PROPERTY_SETTINGS
@given(JSON_VALUES)
def test_any_json_value_gives_ok_or_dropped(value):
    assert_total(json.dumps(value, ensure_ascii=True).encode("utf-8"))


@PROPERTY_SETTINGS
@given(st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=16))
def test_any_changes_to_a_reading_give_ok_or_dropped(changes):
    assert_total(json.dumps({**good_reading(), **changes}, ensure_ascii=True).encode("utf-8"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.text(ANY_CHARACTER, max_size=40), st.integers())
def test_any_envelope_gives_ok_or_dropped(payload, thing_name, arrival_ms):
    data = {
        "payload": base64.b64encode(payload).decode(),
        "thing_name": thing_name,
        "arrival_ms": arrival_ms,
        "client_id": thing_name,
    }
    response, _ = transform_record(
        record(json.dumps(data).encode("utf-8", "surrogatepass")), OutputFormat.S3_LINES
    )
    assert response["result"] in {"Ok", "Dropped"}


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@PROPERTY_SETTINGS
@given(JSON_VALUES)
def test_nesting_depth_matches_the_decoded_value(value):
    text = json.dumps(value)
    assert nesting_depth(text, 1000) in {0, depth_of(value)}
    if text.count("[") + text.count("{") > 1000:
        assert nesting_depth(text, 1000) == depth_of(value)


def test_nesting_depth_ignores_brackets_inside_strings():
    text = json.dumps({"a": '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{'})
    assert nesting_depth(text, 3) == 1


@given(st.lists(st.text(st.characters(max_codepoint=127), max_size=200), max_size=50))
def test_joined_reasons_fit_and_count_what_was_left_out(reasons):
    joined = join_reasons(reasons)
    if len("; ".join(reasons)) <= MAX_REASON_CHARS:
        assert joined == "; ".join(reasons)
    else:
        assert joined.endswith("more problems")
    assert len(InvalidReading(Problem.UNKNOWN_FIELD, joined).reason) <= MAX_REASON_CHARS


def test_the_key_limit_leaves_room_for_every_field():
    assert len(good_reading()) < MAX_KEYS
