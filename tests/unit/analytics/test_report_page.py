"""The local report's page and SVG charts, built from query rows (no services)."""

import re
from datetime import UTC, datetime

import pytest

from demo.report import build_html, charts, epoch, read_results, shown, write_report
from demo.report_svg import Series, line_chart, nice_ticks, time_ticks

PROFILE = [
    ["device_id", "hour_of_day", "avg_temperature", "avg_humidity", "readings"],
    ["(all devices)", "10", "21.0", "45.0", "20"],
    ["(all devices)", "11", "22.0", "47.0", "20"],
    ["pi-a", "10", "20.0", "40.0", "10"],
    ["pi-a", "11", "21.0", "42.0", "10"],
    ["pi-b", "10", "22.0", "50.0", "10"],
    ["pi-b", "11", "23.0", "52.0", "10"],
]
TREND = [
    [
        "device_id",
        "hour_start",
        "avg_temperature",
        "max_temperature",
        "avg_humidity",
        "max_humidity",
        "readings",
    ],
    ["pi-a", "2025-06-30 10:00:00.000", "20.0", "20.5", "40.0", "41.0", "10"],
    ["pi-a", "2025-06-30 11:00:00.000", "21.0", "22.0", "42.0", "43.0", "10"],
    ["pi-a", "2025-06-30 20:00:00.000", "19.0", "19.5", "44.0", "44.0", "10"],
]
GAPS = [
    [
        "device_id",
        "readings",
        "first_ts",
        "last_ts",
        "expected_interval_s",
        "expected_readings",
        "gaps",
        "missing_readings",
        "longest_gap_s",
        "seq_gaps",
        "missing_seq",
    ],
    [
        "pi-a",
        "27",
        "2025-06-30 10:58:00.000",
        "2025-06-30 11:02:50.000",
        "10.0",
        "30",
        "2",
        "3",
        "30.0",
        "1",
        "1",
    ],
]
SUMMARY = {
    "published": 40,
    "raw": 40,
    "compacted": 40,
    "search": 40,
    "lost": 0,
    "duplicates": 0,
    "invalid": 2,
}


def results():
    return {"hourly_profile": PROFILE, "hourly_trend": TREND, "quality_gaps": GAPS}


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(21.3, 25.6) == [21.0, 22.0, 23.0, 24.0, 25.0, 26.0]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(5, 5) == [4.0, 4.5, 5.0, 5.5, 6.0]
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(float("nan"), 1)


def test_time_ticks_fall_on_whole_hours():
    start = datetime(2025, 6, 30, 10, 20, tzinfo=UTC).timestamp()
    ticks = time_ticks(start, start + 5 * 3600)
    assert all(t % 3600 == 0 for t in ticks) and len(ticks) == 5


def test_a_gap_in_the_data_breaks_the_line():
    svg = line_chart(
        "t",
        "T",
        [Series("a", "#000", points=[(0, 1), (1, 2), (5, 3), (6, 4)])],
        x_title="x",
        y_title="y",
        x_label=str,
        max_step=1.5,
    )
    (path,) = re.findall(r'<path class="series"[^>]* d="([^"]+)"', svg)
    assert path.count("M") == 2 and path.count("L") == 2


def test_an_empty_chart_says_so():
    svg = charts({})["hourly-temperature"]
    assert "no data" in svg and 'class="series"' not in svg


def test_bars_per_device_and_overall_when_there_are_several_devices():
    svg = charts(results())["hourly-temperature"]
    groups = re.findall(r'<g class="series" data-series="([^"]+)"', svg)
    assert groups == ["pi-a", "pi-b", "(all devices)"]
    assert svg.count('class="bar"') == 6


def test_trend_has_an_average_and_a_maximum_line_per_device():
    svg = charts(results())["temperature-over-time"]
    lines = re.findall(r'data-series="([^"]+)" data-points="(\d+)"', svg)
    assert lines == [("pi-a average", "3"), ("pi-a maximum", "3")]
    assert "stroke-dasharray" in svg


def test_names_from_the_data_are_escaped():
    rows = [PROFILE[0], ["<script>x</script>", "10", "1.0", "2.0", "1"]]
    svg = charts({"hourly_profile": rows})["hourly-temperature"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_page_has_the_charts_the_panels_and_the_accounting():
    page = build_html(results(), SUMMARY, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert page.count('<figure data-chart="') == 4
    assert "Every one of the 40 published readings" in page
    assert "Readings from 2025-06-30 10:58 to 2025-06-30 11:02 UTC" in page
    assert '<td class="flag">3</td>' in page  # missing readings are highlighted
    # Self-contained: no script, nothing to load (the SVG namespace is a name, not a load).
    loads = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page
    for marker in ("http://", "https://", "src=", "href=", "url(", "@import"):
        assert marker not in loads


def test_lost_readings_are_shown_as_such():
    page = build_html(results(), {**SUMMARY, "lost": 2})
    assert "Readings are missing or duplicated" in page
    assert 'class="card bad" data-key="lost"' in page


def test_written_files_can_be_read_back(tmp_path):
    page = write_report(tmp_path, results(), SUMMARY)
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "hourly-humidity.svg",
        "hourly-temperature.svg",
        "humidity-over-time.svg",
        "temperature-over-time.svg",
    ]
    (tmp_path / "hourly_profile.csv").write_text("\n".join(",".join(r) for r in PROFILE) + "\n")
    read, summary = read_results(tmp_path)
    assert read["hourly_profile"] == PROFILE and summary == {}


def test_athena_timestamps_are_utc():
    assert epoch("2025-06-30 10:00:00.000") == datetime(2025, 6, 30, 10, tzinfo=UTC).timestamp()


def test_table_values_read_as_durations_counts_and_identifiers():
    assert shown("max_s", "3.55255593571E8") == "4,112 d"
    assert shown("p50_s", "2.5") == "2.5 s"
    assert shown("longest_gap_s", "42870.0") == "11.9 h"
    assert shown("expected_interval_s", "600") == "10.0 min"
    assert shown("readings", "24604") == "24,604"
    assert shown("seq", "1795370727923") == "1795370727923"
    assert shown("min_value", "1001.72") == "1001.72"
    assert shown("field", "temperature") == "temperature"
