"""Every rejection reason of reading schema 1, and what a valid reading looks like."""

import json

import pytest
from validator_events import THING, good_reading

from validator.reading import (
    FIELDS,
    MAX_PAYLOAD_BYTES,
    REQUIRED_FIELDS,
    InvalidReading,
    Problem,
    parse_payload,
    validate_reading,
)


def rejection(reading: dict, thing_name: str = THING) -> InvalidReading:
    with pytest.raises(InvalidReading) as caught:
        validate_reading(reading, thing_name)
    return caught.value


def payload_rejection(payload: bytes) -> InvalidReading:
    with pytest.raises(InvalidReading) as caught:
        parse_payload(payload)
    return caught.value


def test_a_full_reading_is_returned_in_table_order():
    reading = good_reading()
    shuffled = dict(reversed(list(reading.items())))
    result = validate_reading(shuffled, THING)
    assert list(result) == [spec.name for spec in FIELDS]
    assert result == reading


def test_optional_fields_may_be_left_out():
    minimal = {name: good_reading()[name] for name in REQUIRED_FIELDS}
    assert validate_reading(minimal, THING) == minimal


def test_required_fields_are_those_of_the_contract():
    assert set(REQUIRED_FIELDS) == {
        "schema",
        "device_id",
        "seq",
        "ts",
        "temperature",
        "humidity",
    }


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_required_field_is_named(field):
    err = rejection(good_reading(**{field: ...}))
    assert err.problem is Problem.MISSING_FIELD
    assert f"missing required field '{field}'" in err.reason


def test_every_problem_is_listed_and_the_first_one_is_the_code():
    err = rejection(good_reading(temperature=..., humidity=101, seq="7"))
    assert err.problem is Problem.WRONG_TYPE  # seq comes before temperature and humidity
    assert "field 'seq': expected an integer, got string \"7\"" in err.reason
    assert "field 'humidity': 101 is out of range (0 .. 100 %RH)" in err.reason
    assert "missing required field 'temperature'" in err.reason


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("temperature", True, "expected a number, got boolean true"),
        ("humidity", "45", 'expected a number, got string "45"'),
        ("humidity", None, "expected a number, got null"),
        ("pitch", [1], "expected a number, got array [1]"),
        ("schema", 1.0, "expected an integer, got number 1.0"),
        ("seq", 3.5, "expected an integer, got number 3.5"),
        ("seq", False, "expected an integer, got boolean false"),
        ("device_id", 7, "expected a string, got number 7"),
        ("ts", 1718000000, "expected a string, got number 1718000000"),
        ("flags", "a", 'expected an array of strings, got string "a"'),
    ],
)
def test_wrong_types_are_rejected_with_the_type_found(field, value, expected):
    err = rejection(good_reading(**{field: value}))
    assert err.problem is Problem.WRONG_TYPE
    assert f"field '{field}': {expected}" in err.reason


@pytest.mark.parametrize(
    "field", ["pressure", "cpu_temp", "temperature_raw", "pitch", "roll", "yaw"]
)
def test_an_optional_measurement_may_be_absent_or_null_and_stays_null(field):
    absent = good_reading(**{field: ...})
    assert field not in validate_reading(absent, THING)
    assert validate_reading(good_reading(**{field: None}), THING)[field] is None


@pytest.mark.parametrize(
    ("field", "value", "bounds"),
    [
        ("temperature", -40.01, "(-40 .. 120 degC)"),
        ("temperature", 120.5, "(-40 .. 120 degC)"),
        ("humidity", -0.1, "(0 .. 100 %RH)"),
        ("pressure", 259.9, "(260 .. 1260 hPa)"),
        ("pressure", 1260.1, "(260 .. 1260 hPa)"),
        ("cpu_temp", 150.5, "(-40 .. 150 degC)"),
        ("temperature_raw", -41, "(-40 .. 120 degC)"),
        ("pitch", 360.01, "(0 .. 360 degrees)"),
        ("roll", -1, "(0 .. 360 degrees)"),
        ("yaw", 1e400, "(0 .. 360 degrees)"),  # decodes to infinity
        ("seq", -1, "(0 .. 9223372036854775807)"),
    ],
)
def test_out_of_range_values_are_rejected_with_the_bounds(field, value, bounds):
    err = rejection(good_reading(**{field: value}))
    assert err.problem is Problem.OUT_OF_RANGE
    assert err.reason.startswith(f"field '{field}': ")
    assert err.reason.endswith(f"is out of range {bounds}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -40),
        ("temperature", 120),
        ("humidity", 0),
        ("humidity", 100),
        ("pressure", 260),
        ("pressure", 1260),
        ("yaw", 0),
        ("yaw", 360),
        ("seq", 0),
        ("seq", 2**63 - 1),
    ],
)
def test_range_bounds_are_inclusive(field, value):
    assert validate_reading(good_reading(**{field: value}), THING)[field] == value


@pytest.mark.parametrize("version", [0, 2, 99])
def test_other_schema_versions_are_unsupported(version):
    err = rejection(good_reading(schema=version))
    assert err.problem is Problem.UNSUPPORTED_SCHEMA
    assert f"field 'schema': {version} is not a supported schema version (expected 1)" in err.reason


def test_device_cannot_speak_for_another_device():
    err = rejection(good_reading(device_id="sensehat-02"))
    assert err.problem is Problem.DEVICE_MISMATCH
    assert '\'device_id\': "sensehat-02" is not the topic\'s thing name "sensehat-01"' in err.reason


@pytest.mark.parametrize(
    "ts",
    [
        "2024-06-10T06:13:19Z",  # no milliseconds
        "2024-06-10T06:13:19.98Z",  # two digits
        "2024-06-10 06:13:19.987Z",  # space
        "2024-06-10T06:13:19.987+00:00",  # offset instead of Z
        "2024-06-10T06:13:19.987",  # no zone
        "2024-06-10T06:13:19.987Z\n",  # trailing newline
        "",
    ],
)
def test_timestamps_in_another_format_are_rejected(ts):
    err = rejection(good_reading(ts=ts))
    assert err.problem is Problem.BAD_FORMAT
    assert "field 'ts'" in err.reason
    assert "is not UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ" in err.reason


@pytest.mark.parametrize("ts", ["2024-13-10T06:13:19.987Z", "2023-02-29T00:00:00.000Z"])
def test_timestamps_that_are_not_real_dates_are_rejected(ts):
    err = rejection(good_reading(ts=ts))
    assert err.problem is Problem.BAD_FORMAT
    assert f"field 'ts': \"{ts}\" is not a real date and time" in err.reason


def test_oversized_device_id_is_rejected_and_the_reason_stays_short():
    long_id = "d" * 5000
    err = rejection(good_reading(device_id=long_id))
    assert err.problem is Problem.BAD_FORMAT
    assert "field 'device_id'" in err.reason
    assert "1-128 characters" in err.reason
    assert "(5002 characters)" in err.reason  # the value is quoted, cut short
    assert len(err.reason) < 300


@pytest.mark.parametrize("device_id", ["has space", "slash/inside", "", "é"])
def test_device_id_with_characters_outside_the_thing_name_alphabet(device_id):
    err = rejection(good_reading(device_id=device_id))
    assert err.problem is Problem.BAD_FORMAT
    assert "field 'device_id'" in err.reason


def test_oversized_and_malformed_flags_are_rejected():
    too_many = rejection(good_reading(flags=[f"f{i}" for i in range(33)]))
    assert too_many.problem is Problem.OUT_OF_RANGE
    assert "field 'flags': 33 items, at most 32 allowed" in too_many.reason
    too_long = rejection(good_reading(flags=["x" * 65]))
    assert too_long.problem is Problem.BAD_FORMAT
    assert "field 'flags'[0]" in too_long.reason
    not_text = rejection(good_reading(flags=["ok", 3]))
    assert "field 'flags'[1]: expected a string, got number 3" in not_text.reason


def test_unknown_fields_are_rejected_by_name():
    err = rejection(good_reading(colour="red"))
    assert err.problem is Problem.UNKNOWN_FIELD
    assert 'unknown field "colour" (not in reading schema 1)' in err.reason


def test_payload_that_is_not_utf8_names_the_byte():
    err = payload_rejection(b'{"schema": 1, "device_id": "\xff\xfe"}')
    assert err.problem is Problem.NOT_UTF8
    assert err.reason == "payload is not valid UTF-8: byte 0xff at offset 28"


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b'{"schema": 1,}', b"temperature=21.5", b"{'schema': 1}"],
)
def test_malformed_json_is_rejected(payload):
    err = payload_rejection(payload)
    assert err.problem is Problem.MALFORMED_JSON
    assert err.reason.startswith("payload is not valid JSON: ")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_json_constants_are_rejected(constant):
    err = payload_rejection(f'{{"temperature": {constant}}}'.encode())
    assert err.problem is Problem.MALFORMED_JSON
    assert f"{constant} is not a JSON value" in err.reason


@pytest.mark.parametrize(
    ("payload", "kind"), [(b"[1, 2]", "array"), (b"21.5", "number"), (b'"x"', "string")]
)
def test_json_that_is_not_an_object_is_rejected(payload, kind):
    err = payload_rejection(payload)
    assert err.problem is Problem.NOT_AN_OBJECT
    assert err.reason == f"payload is a JSON {kind}, not a JSON object"


def test_duplicate_keys_are_rejected():
    err = payload_rejection(b'{"seq": 1, "temperature": 20, "seq": 2}')
    assert err.problem is Problem.DUPLICATE_FIELD
    assert err.reason == 'field "seq" appears more than once in the payload'


def test_payload_over_the_iot_core_limit_is_rejected():
    big = json.dumps(good_reading(flags=["x" * 64] * 3000)).encode()
    assert len(big) > MAX_PAYLOAD_BYTES
    err = payload_rejection(big)
    assert err.problem is Problem.PAYLOAD_TOO_LARGE
    assert err.reason == f"payload is {len(big)} bytes, more than the 131072-byte limit"


def test_payload_at_the_limit_is_parsed():
    reading = good_reading()
    text = json.dumps(reading)
    padded = (text[:-1] + " " * (MAX_PAYLOAD_BYTES - len(text)) + "}").encode()
    assert len(padded) == MAX_PAYLOAD_BYTES
    assert parse_payload(padded) == reading
