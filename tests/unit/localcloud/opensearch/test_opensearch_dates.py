"""Dates of the emulated OpenSearch: formats, date math, rounding and time zones."""

from datetime import UTC, datetime

import pytest

from localcloud.opensearch.dates import (
    DateError,
    DateFormatError,
    add_unit,
    format_date,
    parse_date,
    parse_date_math,
    parse_time_zone,
    round_down,
)


def ms(iso: str) -> int:
    """Epoch millis of a UTC ISO string, computed by the standard library."""
    moment = (
        datetime.fromisoformat(iso).replace(tzinfo=UTC)
        if "+" not in iso
        else datetime.fromisoformat(iso)
    )
    return int(moment.timestamp() * 1000)


NOW = ms("2026-11-22T10:30:15.250")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:00:00.123Z", ms("2026-11-22T10:00:00.123")),
        ("2026-11-22T10:00:00Z", ms("2026-11-22T10:00:00")),
        ("2026-11-22T10:00:00.123456789Z", ms("2026-11-22T10:00:00.123")),
        ("2026-11-22T11:00:00+01:00", ms("2026-11-22T10:00:00")),
        ("2026-11-22T05:00:00-0500", ms("2026-11-22T10:00:00")),
        ("2026-11-22T10:00", ms("2026-11-22T10:00:00")),
        ("2026-11-22", ms("2026-11-22T00:00:00")),
        ("2026-11", ms("2026-11-01T00:00:00")),
        ("1795341600000", 1795341600000),
        ("20261122", 20261122),  # digits only: epoch millis, not a year
        (1795341600000, 1795341600000),
    ],
)
def test_default_format_reads_iso_dates_and_epoch_millis(text, expected):
    assert parse_date(text) == expected


def test_format_lists_are_tried_in_order():
    assert parse_date("1795341600", "strict_date_optional_time||epoch_second") == 1795341600000
    assert parse_date("2026-11-22", "strict_date_optional_time||epoch_second") == ms(
        "2026-11-22T00:00:00"
    )


@pytest.mark.parametrize("unsupported", ["dd/MM/yyyy HH:mm", "basic_date", "epoch_millis||date"])
def test_formats_the_pipeline_does_not_use_are_refused_by_name(unsupported):
    with pytest.raises(DateFormatError, match="is not supported by the emulated OpenSearch"):
        parse_date("2026-11-22", unsupported)
    with pytest.raises(DateFormatError, match="is not supported by the emulated OpenSearch"):
        format_date(0, unsupported)


def test_a_date_without_offset_is_read_in_the_given_time_zone():
    berlin = parse_time_zone("Europe/Berlin")
    assert parse_date("2026-11-22T11:00:00", tz=berlin) == ms("2026-11-22T10:00:00")
    assert parse_date("2026-11-22T11:00:00Z", tz=berlin) == ms("2026-11-22T11:00:00")


def test_rounding_up_fills_missing_time_with_the_last_millisecond():
    assert parse_date("2026-11-22", round_up=True) == ms("2026-11-22T23:59:59.999")
    assert parse_date("2026-11-22T10", round_up=True) == ms("2026-11-22T10:59:59.999")


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "22/11/2026", "", "2026-11-22T25:00"])
def test_unparseable_dates_name_the_value_and_the_formats(bad):
    with pytest.raises(
        DateError, match=r"failed to parse date field .* with format \[strict_date_optional_time"
    ):
        parse_date(bad)


def test_unknown_pattern_letters_are_rejected():
    with pytest.raises(DateError, match="not supported"):
        parse_date("Monday", "EEEE")


def test_default_output_is_iso_with_milliseconds_and_z():
    assert format_date(ms("2026-11-22T10:00:00.5")) == "2026-11-22T10:00:00.500Z"
    assert format_date(ms("2026-11-22T10:00:00"), "epoch_millis") == str(ms("2026-11-22T10:00:00"))


def test_output_in_a_time_zone():
    value = ms("2026-11-22T10:00:00")
    assert (
        format_date(value, tz=parse_time_zone("Europe/Berlin")) == "2026-11-22T11:00:00.000+01:00"
    )
    assert format_date(value, "epoch_second") == str(value // 1000)


@pytest.mark.parametrize(
    ("expression", "round_up", "expected"),
    [
        ("now", False, NOW),
        ("now-1h", False, NOW - 3_600_000),
        ("now+30m", False, NOW + 1_800_000),
        ("now/d", False, ms("2026-11-22T00:00:00")),
        ("now/d", True, ms("2026-11-22T23:59:59.999")),
        ("now-1h/h", False, ms("2026-11-22T09:00:00")),
        ("now-1d/d", True, ms("2026-11-21T23:59:59.999")),
        ("now/M", False, ms("2026-11-01T00:00:00")),
        ("now/w", False, ms("2026-11-16T00:00:00")),  # weeks start on Monday
        ("2026-01-31||+1M", False, ms("2026-02-28T00:00:00")),  # clamped to the month's end
        ("2026-11-22||+1d/d", False, ms("2026-11-23T00:00:00")),
        ("2026-11-22T10:00:00Z", False, ms("2026-11-22T10:00:00")),
    ],
)
def test_date_math(expression, round_up, expected):
    assert parse_date_math(expression, round_up=round_up, now_ms=NOW) == expected


def test_date_math_rounds_in_the_time_zone():
    berlin = parse_time_zone("Europe/Berlin")
    # 10:30Z is 11:30 in Berlin; the Berlin day starts at 23:00Z the day before.
    assert parse_date_math("now/d", tz=berlin, now_ms=NOW) == ms("2026-11-21T23:00:00")


def test_bad_date_math_is_rejected():
    with pytest.raises(DateError, match="date math"):
        parse_date_math("now-1x", now_ms=NOW)


def test_calendar_rounding_and_arithmetic():
    value = ms("2026-08-17T13:45:00")
    assert round_down(value, "q") == ms("2026-07-01T00:00:00")
    assert round_down(value, "y") == ms("2026-01-01T00:00:00")
    assert round_down(value, "m") == ms("2026-08-17T13:45:00")
    india = parse_time_zone("+05:30")
    assert round_down(value, "h", india) == ms("2026-08-17T13:30:00")
    assert add_unit(ms("2026-03-31T00:00:00"), 1, "M") == ms("2026-04-30T00:00:00")
    assert add_unit(ms("2024-02-29T00:00:00"), 1, "y") == ms("2025-02-28T00:00:00")


def test_time_zones():
    assert parse_time_zone("UTC") is UTC
    assert parse_time_zone("+02:00").utcoffset(None).total_seconds() == 7200
    with pytest.raises(DateError, match="unknown time zone"):
        parse_time_zone("Mars/Olympus")
