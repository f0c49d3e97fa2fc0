"""The CSV log parser (`device/csv_rows.py`) that `publish` and `check` share: examples and
properties (hypothesis) over separators, headerless files, Unix time units and device columns."""

from __future__ import annotations

import datetime as dt
import io
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.contract import DEVICE_ID_PATTERN
from device.csv_rows import CsvLayout, LayoutError, Rejected, parse_time, read_rows
from device.reading import Sample

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
HEADERLESS = {"temperature": "3", "humidity": "4", "pressure": "5"}
SEPARATORS = [",", ";", "\t", "|", ", ", " | ", "::", ";;", " , "]


def rows(text: str, layout: CsvLayout) -> list[Sample | Rejected]:
    return list(read_rows(io.StringIO(text), layout))


def headerless(**overrides: object) -> CsvLayout:
    values: dict[str, object] = {
        "columns": HEADERLESS,
        "header": False,
        "separator": ", ",
        "time_column": "1",
        "time_format": "unix_ms",
        "device_column": "2",
    }
    values.update(overrides)
    return CsvLayout(**values)  # type: ignore[arg-type]


# -- examples -------------------------------------------------------------------------------


def test_a_headerless_multi_device_millisecond_log_with_a_two_character_separator():
    text = (
        "1733097600123, room-a-1, 21.5, 40.25, \n"
        "1733097601123, room-b-1, 19.75, 55.5, 1001.5\n"
        "\n"
        "1733097602999, room-a-1, 21.625, 40.125, \n"
    )
    out = rows(text, headerless())
    assert [(s.device_id, s.temperature, s.humidity, s.pressure) for s in out] == [
        ("room-a-1", 21.5, 40.25, None),
        ("room-b-1", 19.75, 55.5, 1001.5),
        ("room-a-1", 21.625, 40.125, None),
    ]
    assert out[0].ts == dt.datetime(2024, 12, 2, 0, 0, 0, 123000, tzinfo=dt.UTC)
    assert out[2].ts == dt.datetime(2024, 12, 2, 0, 0, 2, 999000, tzinfo=dt.UTC)
    assert all(s.flags == () for s in out)


def test_unix_times_in_seconds_milliseconds_and_microseconds_are_read_exactly():
    utc = dt.UTC
    expected = dt.datetime(2024, 12, 2, 0, 0, 0, 123456, tzinfo=utc)
    assert parse_time("1733097600.123456", "unix", utc) == expected
    assert parse_time("1733097600123.456", "unix_ms", utc) == expected
    assert parse_time("1733097600123456", "unix_us", utc) == expected
    assert parse_time(" 1733097600 ", "unix_s", utc) == expected.replace(microsecond=0)


@pytest.mark.parametrize("value", ["", "abc", "nan", "inf", "1e999999", "12:00"])
def test_a_unix_time_that_is_not_a_number_is_an_error(value):
    with pytest.raises((ValueError, OverflowError)):
        parse_time(value, "unix_ms", dt.UTC)


def test_rows_that_cannot_be_read_are_rejected_with_their_line_and_reason():
    text = (
        "1733097600000, room-a-1, 21.5, 40\n"
        "yesterday, room-a-1, 21.5, 40, 1000\n"
        "1733097602000, room a!, 21.5, 40, 1000\n"
        "1733097603000, room-a-1, warm, 40, 1000\n"
    )
    out = rows(text, headerless())
    assert isinstance(out[0], Rejected) and out[0].line == 1
    assert "has 4 fields, the layout reads field 5 (separator ', ')" in out[0].reason
    assert isinstance(out[1], Rejected) and out[1].line == 2
    assert "time 'yesterday' does not match 'unix_ms'" in out[1].reason
    assert isinstance(out[2], Rejected) and "device 'room a!' is not a valid thing name" in (
        out[2].reason
    )
    assert isinstance(out[3], Sample)
    assert out[3].temperature is None and out[3].flags == ("temperature_unparseable",)


def test_a_header_names_the_columns_and_a_missing_one_is_a_layout_error():
    layout = CsvLayout(
        columns={"temperature": "t", "humidity": "h"}, separator=";", time_column="when"
    )
    out = rows("when;h;t\n2024-12-02 00:00:00;40;21\n", layout)
    assert [(s.temperature, s.humidity) for s in out] == [(21.0, 40.0)]
    with pytest.raises(LayoutError, match=r"has no column\(s\) t; its columns are: when, h"):
        rows("when;h\n2024-12-02 00:00:00;40\n", layout)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (headerless(time_column="time"), "time_column 'time' must be a column position"),
        (headerless(columns={"humidity": "0"}), "columns.humidity '0' must be a column position"),
        (headerless(separator=""), "separator '' must be one or more characters"),
        (headerless(separator="\n"), "no newline"),
    ],
)
def test_a_layout_that_cannot_work_is_refused_before_any_row(layout, message):
    assert any(message in problem for problem in layout.problems())
    with pytest.raises(LayoutError, match=message):
        rows("1, a, 2, 3, 4\n", layout)


def test_a_single_character_separator_reads_quoted_fields():
    layout = headerless(separator=",", device_column="", device_name="pi")
    out = rows('1733097600000,"ignored, quoted",21.5,"40.5",\n', layout)
    assert [(s.device_id, s.temperature, s.humidity, s.pressure) for s in out] == [
        ("pi", 21.5, 40.5, None)
    ]


# -- properties -----------------------------------------------------------------------------

devices = st.from_regex(DEVICE_ID_PATTERN, fullmatch=True).filter(lambda d: d.strip() == d)
# Times the validator's window would accept, to the millisecond.
millis = st.integers(min_value=1_420_070_400_000, max_value=4_102_444_800_000)
values = st.one_of(
    st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
)


@st.composite
def logs(draw: st.DrawFn) -> tuple[str, list[tuple[int, str, list[float | None]]]]:
    """A separator and rows of (epoch ms, device, three values), no device using one of its
    characters (numbers never do: no separator has digits, '.', '-', 'e')."""
    separator = draw(st.sampled_from(SEPARATORS))
    table = draw(st.lists(st.tuples(millis, devices, st.lists(values, min_size=3, max_size=3))))
    # A device name sharing a character with the separator would make the split ambiguous.
    table = [row for row in table if not set(separator) & set(row[1])]
    return separator, table


def render(value: float | None) -> str:
    return "" if value is None else repr(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), st.booleans())
def test_every_row_written_is_read_back_exactly(log, trailing_newline):
    separator, table = log
    lines = [
        separator.join([str(ms), device, *(render(v) for v in measured)])
        for ms, device, measured in table
    ]
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    out = rows(text, headerless(separator=separator))
    assert all(isinstance(s, Sample) for s in out), out
    assert [(s.ts, s.device_id, [s.temperature, s.humidity, s.pressure]) for s in out] == [
        (EPOCH + dt.timedelta(milliseconds=ms), device, measured) for ms, device, measured in table
    ]


@settings(deadline=None)  # a shared machine: no timing in tests
@given(st.integers(min_value=0, max_value=4_102_444_800_000_000))
def test_the_three_unix_units_name_the_same_instant(micros):
    expected = EPOCH + dt.timedelta(microseconds=micros)
    seconds, rest = divmod(micros, 1_000_000)
    assert parse_time(f"{seconds}.{rest:06d}", "unix", dt.UTC) == expected
    assert parse_time(f"{micros // 1000}.{micros % 1000:03d}", "unix_ms", dt.UTC) == expected
    assert parse_time(str(micros), "unix_us", dt.UTC) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=string.printable + "éü€\x00", max_size=200),
    st.sampled_from(SEPARATORS),
    st.sampled_from(["unix", "unix_ms", "unix_us", "iso", "%Y-%m-%d %H:%M:%S"]),
)
def test_any_text_gives_samples_or_rejections_never_an_exception(text, separator, time_format):
    layout = headerless(separator=separator, time_format=time_format)
    for row in rows(text, layout):
        assert isinstance(row, Sample | Rejected)
        if isinstance(row, Rejected):
            assert row.line >= 1 and row.reason
        else:
            assert DEVICE_ID_PATTERN.match(row.device_id or "")
            assert row.ts.tzinfo is not None
