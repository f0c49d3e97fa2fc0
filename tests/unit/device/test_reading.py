import datetime as dt
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.contract import FIELD_ORDER, RANGES
from device.reading import Sample, build_reading, compensate, encode, format_ts

TS = dt.datetime(2015, 8, 20, 23, 58, 30, tzinfo=dt.UTC)


def sample(**overrides):
    values = {
        "ts": TS,
        "temperature_raw": 26.85,
        "cpu_temp": 35.51,
        "humidity": 60.5,
        "pressure": 1021.76,
        "pitch": 359.05,
        "roll": 359.86,
        "yaw": 258.99,
    }
    values.update(overrides)
    return Sample(**values)


def test_compensation_formula_with_the_default_factor():
    # raw - (cpu - raw) / 1.5
    assert compensate(26.85, 35.51, 1.5) == pytest.approx(26.85 - (35.51 - 26.85) / 1.5)
    assert compensate(30.0, 45.0, 1.5) == pytest.approx(20.0)


def test_larger_factor_means_smaller_correction():
    assert compensate(30.0, 45.0, 3.0) == pytest.approx(25.0)


def test_factor_must_be_positive():
    with pytest.raises(ValueError, match="factor"):
        compensate(30.0, 45.0, 0)


def test_timestamp_is_utc_with_milliseconds_and_z():
    assert format_ts(TS) == "2015-08-20T23:58:30.000Z"
    berlin = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2015, 8, 21, 1, 58, 30, 123456, tzinfo=berlin)
    assert format_ts(local) == "2015-08-20T23:58:30.123Z"
    assert format_ts(dt.datetime(2015, 8, 20, 23, 58, 30)) == "2015-08-20T23:58:30.000Z"


def test_reading_follows_the_contract():
    reading = build_reading(sample(), "sensehat-01", 7)
    assert reading == {
        "schema": 1,
        "device_id": "sensehat-01",
        "seq": 7,
        "ts": "2015-08-20T23:58:30.000Z",
        "temperature": 26.85 - (35.51 - 26.85) / 1.5,
        "humidity": 60.5,
        "pressure": 1021.76,
        "cpu_temp": 35.51,
        "temperature_raw": 26.85,
        "pitch": 359.05,
        "roll": 359.86,
        "yaw": 258.99,
    }
    assert list(reading) == [k for k in FIELD_ORDER if k in reading]


def test_values_keep_their_precision_unless_a_setting_rounds_them():
    given = sample(temperature=21.123456, humidity=40.0004, pressure=1013.256789)
    kept = build_reading(given, "d", 0)
    assert (kept["temperature"], kept["humidity"], kept["pressure"]) == (
        21.123456,
        40.0004,
        1013.256789,
    )
    rounded = build_reading(given, "d", 0, decimals=2)
    assert (rounded["temperature"], rounded["humidity"], rounded["pressure"]) == (
        21.12,
        40.0,
        1013.26,
    )
    assert build_reading(given, "d", 0, decimals=0)["pressure"] == 1013.0


def test_a_measurement_the_source_did_not_take_is_left_out_never_made_up():
    reading = build_reading(sample(pressure=None, pitch=None, roll=None, yaw=None), "d", 0)
    assert "pressure" not in reading
    assert "flags" not in reading  # pressure is optional: nothing is missing


def test_factor_is_used():
    reading = build_reading(sample(temperature_raw=30.0, cpu_temp=45.0), "d", 0, factor=3.0)
    assert reading["temperature"] == 25.0


def test_a_given_compensated_temperature_is_kept():
    reading = build_reading(sample(temperature=19.5), "d", 0)
    assert reading["temperature"] == 19.5


def test_out_of_range_values_are_flagged_and_kept():
    reading = build_reading(sample(humidity=104.2, pressure=0.0), "d", 0)
    assert reading["humidity"] == 104.2
    assert reading["pressure"] == 0.0
    assert reading["flags"] == ["humidity_out_of_range", "pressure_out_of_range"]


def test_missing_and_non_finite_values_are_flagged():
    reading = build_reading(sample(humidity=None, pressure=math.nan, yaw=math.inf), "d", 0)
    assert reading["humidity"] is None  # required: null, and the validator refuses it
    assert "pressure" not in reading  # optional: left out (null in the cloud)
    assert "yaw" not in reading
    assert reading["flags"] == ["humidity_missing", "pressure_not_finite", "yaw_not_finite"]


def test_without_cpu_temperature_the_raw_value_is_published_and_flagged():
    reading = build_reading(sample(cpu_temp=None), "d", 0)
    assert reading["temperature"] == 26.85
    assert "cpu_temp" not in reading
    assert reading["flags"] == ["temperature_not_compensated"]


def test_source_flags_come_first_and_are_not_repeated():
    reading = build_reading(sample(flags=("imu_read_error", "imu_read_error")), "d", 0)
    assert reading["flags"] == ["imu_read_error"]


def test_encode_is_compact_utf8_json():
    data = encode(build_reading(sample(), "d", 3))
    assert b" " not in data
    assert json.loads(data.decode("utf-8"))["seq"] == 3


def test_encode_refuses_messages_over_128_kib():
    with pytest.raises(ValueError, match="limit"):
        encode({"device_id": "x" * (128 * 1024)})


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    raw=finite,
    cpu=finite,
    humidity=finite,
    pressure=finite,
    pitch=finite,
    seq=st.integers(min_value=0, max_value=2**53),
)
def test_any_finite_sample_gives_valid_json_flagged_exactly_when_out_of_range(
    raw, cpu, humidity, pressure, pitch, seq
):
    reading = build_reading(
        sample(
            temperature_raw=raw, cpu_temp=cpu, humidity=humidity, pressure=pressure, pitch=pitch
        ),
        "dev-1",
        seq,
    )
    decoded = json.loads(encode(reading))
    assert decoded["seq"] == seq
    flags = set(decoded.get("flags", []))
    for name in ("temperature", "humidity", "pressure", "cpu_temp", "temperature_raw", "pitch"):
        low, high = RANGES[name]
        value = {
            "temperature": compensate(raw, cpu, 1.5),
            "humidity": humidity,
            "pressure": pressure,
            "cpu_temp": cpu,
            "temperature_raw": raw,
            "pitch": pitch,
        }[name]
        assert (f"{name}_out_of_range" in flags) == (not low <= value <= high)
