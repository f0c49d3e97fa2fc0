"""The local report's page and matplotlib charts, built from a small fixed set of query rows,
alerts and thresholds (no services)."""

import base64
import functools
import json
import math
import re
from datetime import UTC, datetime

from demo import report_charts
from demo.report import (
    build_html,
    cdk_json_thresholds,
    charts,
    default_thresholds,
    epoch,
    read_results,
    read_thresholds,
    shown,
    write_report,
)
from tests.report_figures import REPORT_CHARTS

PROFILE = [
    ["device_id", "hour_of_day", "avg_temperature", "avg_humidity", "readings"],
    ["(all devices)", "10", "21.0", "45.0", "720"],
    ["(all devices)", "11", "22.0", "47.0", "720"],
    ["(all devices)", "18", "19.0", "41.0", "700"],
    ["pi-a", "10", "20.0", "40.0", "360"],
    ["pi-a", "11", "21.0", "42.0", "360"],
    ["pi-a", "18", "19.0", "41.0", "40"],  # a thin hour
    ["pi-b", "10", "22.0", "50.0", "360"],
    ["pi-b", "11", "23.0", "52.0", "360"],
]
TREND_HEADER = [
    "device_id",
    "hour_start",
    "avg_temperature",
    "max_temperature",
    "avg_humidity",
    "max_humidity",
    "avg_pressure",
    "min_pressure",
    "max_pressure",
    "readings",
]
TEMPERATURE_HUMIDITY = ("20.0", "20.5", "50.0", "51.0")  # average, maximum
PRESSURE = ("1012.0", "1011.5", "1012.5")  # average, minimum, maximum
SPIKE_PRESSURE = ("1003.0", "1002.0", "1004.0")
TREND = [
    TREND_HEADER,
    *[
        ["pi-a", f"2025-06-{day} {hour:02d}:00:00.000", *TEMPERATURE_HUMIDITY, *PRESSURE, "360"]
        for day in (29, 30)
        for hour in range(24)
    ],
    # After a gap of a day (the line breaks there), a thin hour with a humidity spike.
    ["pi-a", "2025-07-02 10:00:00.000", "26.0", "28.5", "62.0", "66.0", *SPIKE_PRESSURE, "90"],
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
ALERTS = [
    ["ts", "device_id", "metric", "transition", "level", "value", "threshold"],
    ["2025-07-02T10:05:00.000Z", "pi-a", "humidity", "raised", "warning", "61.0", "60.0"],
    ["2025-07-02T10:20:00.000Z", "pi-a", "humidity", "raised", "critical", "66.0", "65.0"],
    ["2025-07-02T10:40:00.000Z", "pi-a", "humidity", "recovered", "normal", "58.0", "60.0"],
    ["2025-07-02T10:30:00.000Z", "pi-a", "temperature", "raised", "warning", "28.5", "27.0"],
]
THRESHOLDS = {
    "temperature": {"warningHigh": 27, "criticalHigh": 30, "warningLow": 10, "criticalLow": 5},
    "humidity": {"warningHigh": 60, "criticalHigh": 65, "warningLow": 30, "criticalLow": 20},
}
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
    return {
        "hourly_profile": PROFILE,
        "hourly_trend": TREND,
        "quality_gaps": GAPS,
        "alerts": ALERTS,
    }


@functools.cache
def drawn():
    """The charts of the fixed data, drawn once for the module (drawing takes a while)."""
    return charts(results(), THRESHOLDS)


def figure(name):
    return drawn()[name].figure


def by_gid(axes, prefix):
    return [a for a in axes.get_children() if (a.get_gid() or "").startswith(prefix)]


def bars(axes, name):
    return next(c for c in axes.containers if c.get_label() == name)


def thresholds_drawn(axes):
    return {
        line.get_gid().removeprefix("threshold-"): line.get_ydata()[0]
        for line in by_gid(axes, "threshold-")
    }


@functools.cache
def page():
    generated = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    return build_html(results(), SUMMARY, THRESHOLDS, generated, drawn=drawn())


# ---------------------------------------------------------------- charts


def test_hourly_bars_start_at_zero_and_heights_are_the_averages():
    for name in ("hourly-temperature", "hourly-humidity"):
        (axes,) = figure(name).axes
        assert axes.get_ylim()[0] == 0, name
    (axes,) = figure("hourly-temperature").axes
    pi_a = bars(axes, "pi-a")
    assert [bar.get_height() for bar in pi_a] == [20.0, 21.0, 19.0]
    assert [bar.get_y() for bar in pi_a] == [0, 0, 0]  # a 10% lower bar is 10% shorter
    groups = [c.get_label() for c in axes.containers]
    assert groups == ["pi-a", "pi-b", "(all devices)"]


def test_a_thin_hour_is_hatched_and_labelled_with_its_count():
    (axes,) = figure("hourly-temperature").axes
    pi_a = bars(axes, "pi-a")
    assert [bar.get_hatch() for bar in pi_a] == [None, None, "////"]
    assert "n=40" in [text.get_text() for text in axes.texts]


def test_threshold_lines_have_the_configured_values():
    (axes,) = figure("hourly-temperature").axes
    assert thresholds_drawn(axes) == {
        "criticalLow": 5,
        "warningLow": 10,
        "warningHigh": 27,
        "criticalHigh": 30,
    }
    (axes,) = figure("humidity-over-time").axes
    # The data reach 66: warning and critical high are drawn; the low lines are far below the
    # data and named in the caption instead.
    assert thresholds_drawn(axes) == {"warningHigh": 60, "criticalHigh": 65}
    caption = drawn()["humidity-over-time"].caption
    assert "Off this axis: critical low 20 %RH, warning low 30 %RH" in caption


def test_without_thresholds_no_lines_are_drawn():
    (axes,) = charts(results(), {})["temperature-over-time"].figure.axes
    assert thresholds_drawn(axes) == {}


def test_average_and_maximum_are_drawn_differently_and_named_in_the_legend():
    (axes,) = figure("temperature-over-time").axes
    (average,) = by_gid(axes, "average-pi-a")
    (maximum,) = by_gid(axes, "maximum-pi-a")
    assert average.get_linestyle() != maximum.get_linestyle()
    assert average.get_marker() != maximum.get_marker()
    legend = report_charts.legend_handles(axes.figure)
    assert "pi-a hourly average" in legend and "pi-a hourly maximum" in legend


def test_a_gap_in_the_data_breaks_the_line():
    (axes,) = figure("temperature-over-time").axes
    (average,) = by_gid(axes, "average-pi-a")
    values = list(average.get_ydata())
    assert sum(1 for v in values if math.isnan(v)) == 1  # one break: the day without readings
    assert len(values) == len(TREND) - 1 + 1


def test_alerts_are_marked_on_their_metric_chart_at_their_value():
    (axes,) = figure("humidity-over-time").axes
    marks = {line.get_gid(): list(line.get_ydata()) for line in by_gid(axes, "alert-")}
    assert marks == {"alert-warning": [61.0], "alert-critical": [66.0], "alert-recovered": [58.0]}
    (axes,) = figure("temperature-over-time").axes
    assert [line.get_gid() for line in by_gid(axes, "alert-")] == ["alert-warning"]


def test_the_alert_timeline_has_a_row_per_device_and_metric():
    (axes,) = figure("alert-timeline").axes
    rows = [label.get_text() for label in axes.get_yticklabels()]
    assert rows == ["pi-a\nhumidity", "pi-a\ntemperature"]
    kinds = {line.get_gid(): len(line.get_xdata()) for line in by_gid(axes, "timeline-")}
    assert kinds == {"timeline-warning": 2, "timeline-critical": 1, "timeline-recovered": 1}


def test_the_pressure_chart_has_the_average_within_the_hourly_range():
    (axes,) = figure("pressure-over-time").axes
    (average,) = by_gid(axes, "average-pi-a")
    assert 1003.0 in list(average.get_ydata())
    assert by_gid(axes, "range-pi-a")
    assert axes.get_ylabel() == "hPa"


def test_time_axes_have_dated_ticks_with_the_year_and_state_the_time_zone():
    for name in (
        "temperature-over-time",
        "humidity-over-time",
        "pressure-over-time",
        "readings-per-hour",
        "alert-timeline",
    ):
        chart = figure(name)
        report_charts.svg(chart)  # draws the ticks
        (axes,) = chart.axes
        labels = [t.get_text() for t in axes.get_xticklabels() if t.get_text()]
        assert len(labels) >= 6, (name, labels)
        assert all(re.match(r"20\d\d-\d\d-\d\d\n\d\d:\d\d$", label) for label in labels), labels
        assert "UTC" in axes.get_xlabel(), name
    assert "UTC" in figure("hourly-temperature").axes[0].get_xlabel()


def test_readings_per_hour_against_the_expected_count():
    (axes,) = figure("readings-per-hour").axes
    (expected,) = by_gid(axes, "readings-expected")
    assert expected.get_ydata()[0] == 360  # one reading every 10 s
    assert axes.get_ylim()[0] == 0


def test_an_empty_chart_says_so():
    chart = charts({})["hourly-temperature"]
    assert chart.figure.get_gid() == "empty"
    assert "no data" in [t.get_text() for t in chart.figure.axes[0].texts]
    assert b"no data" in report_charts.svg(chart.figure)


def test_value_limits_reach_the_nearest_thresholds_but_not_far_ones():
    limits = report_charts.value_limits([21.0, 28.5], THRESHOLDS["temperature"])
    assert limits == (21.0, 30)  # critical high 30 is near; warning low 10 is far below


# ---------------------------------------------------------------- the page


def test_data_sections_come_before_the_accounting_cards():
    html = page()
    order = [html.index(f'<section id="{s}"') for s in ("charts", "alerts", "quality", "latest")]
    assert order == sorted(order)
    assert html.index('<section id="accounting"') > order[-1]
    assert html.index('class="card"') > order[-1]


def test_the_page_states_the_time_zone():
    html = page()
    assert 'id="time-zone"' in html
    assert "they carry no time zone; the publisher reads them as utc" in html.lower()
    assert "UTC+1" in html


def test_the_alerts_are_listed_and_counted():
    html = page()
    alerts = html.split('<section id="alerts"')[1].split("</section>")[0]
    assert "The alerter raised 4 alerts: 2 into warning, 1 into critical, 1 back to normal." in (
        alerts
    )
    rows = re.findall(r"<tr><td>(2025-07-02 [\d:]+)</td>", alerts)
    assert rows == [f"2025-07-02 10:{minute}:00" for minute in ("05", "20", "30", "40")]
    assert '<td class="flag">critical</td>' in alerts
    assert 'data-chart="alert-timeline"' in alerts


def test_no_alerts_and_no_alert_history_read_differently():
    none = build_html({**results(), "alerts": ALERTS[:1]}, SUMMARY, drawn=drawn())
    assert "No alerts: no reading crossed a threshold." in none
    unknown = build_html({"hourly_profile": PROFILE}, SUMMARY, drawn=drawn())
    assert "No alert history was given to this report." in unknown


def test_every_chart_is_an_embedded_svg_with_alt_text_and_a_caption():
    html = page()
    figures = re.findall(
        r'<figure data-chart="([^"]+)">\s*<img src="data:image/svg\+xml;base64,([^"]+)" '
        r'alt="([^"]+)">\s*<figcaption>([^<]+)</figcaption>',
        html,
    )
    assert [name for name, *_ in figures] == list(REPORT_CHARTS)
    for name, data, alt, caption in figures:
        assert base64.b64decode(data).lstrip().startswith(b"<?xml"), name
        assert len(alt) > 40 and len(caption) > 40, name
    alt = dict((name, alt) for name, _, alt, _ in figures)["hourly-temperature"]
    assert "value axis from 0" in alt and "warning high 27 °C" in alt


def test_the_page_is_self_contained():
    html = page()
    assert "<script" not in html
    for marker in ("http://", "https://", "url(", "@import", "<link"):
        assert marker not in html
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)


def test_the_page_has_the_panels_and_the_accounting():
    html = page()
    assert "Every one of the 40 published readings" in html
    assert "Readings from 2025-06-30 10:58 to 2025-06-30 11:02 UTC" in html
    assert '<td class="flag">3</td>' in html  # missing readings are highlighted


def test_lost_readings_are_shown_as_such():
    html = build_html(results(), {**SUMMARY, "lost": 2}, drawn=drawn())
    assert "Readings are missing or duplicated" in html
    assert 'class="card bad" data-key="lost"' in html


def test_names_from_the_data_are_escaped():
    rows = [PROFILE[0], ["<script>x</script>", "10", "1.0", "2.0", "1"]]
    trend = [TREND_HEADER, ["<script>x</script>", "2025-06-30 10:00:00.000", *["1"] * 8]]
    html = build_html({"hourly_profile": rows, "hourly_trend": trend}, SUMMARY)
    assert "<script>" not in html and "&lt;script&gt;" in html


# ---------------------------------------------------------------- files


def test_written_files_can_be_read_back(tmp_path):
    written = write_report(tmp_path, results(), SUMMARY, THRESHOLDS)
    assert written.read_text().startswith("<!DOCTYPE html>")
    names = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert "pressure-over-time.svg" in names and "pressure-over-time.png" in names
    assert len(names) == 2 * 7
    assert (tmp_path / "charts" / "alert-timeline.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "hourly_profile.csv").write_text("\n".join(",".join(r) for r in PROFILE) + "\n")
    (tmp_path / "alerts.csv").write_text("\n".join(",".join(r) for r in ALERTS) + "\n")
    read, summary = read_results(tmp_path)
    assert read["hourly_profile"] == PROFILE and read["alerts"] == ALERTS and summary == {}


def test_thresholds_come_from_the_demo_output_or_else_from_cdk_json(tmp_path):
    configured = cdk_json_thresholds()
    assert configured["temperature"]["warningHigh"] == 27
    assert read_thresholds(tmp_path) == configured
    (tmp_path / "thresholds.json").write_text(
        json.dumps({"default": {"humidity": {"warningHigh": 70, "hysteresis": 1}}, "devices": {}})
    )
    assert read_thresholds(tmp_path) == {"humidity": {"warningHigh": 70.0}}
    assert default_thresholds(None) == {}


def test_athena_and_alert_timestamps_are_utc():
    assert epoch("2025-06-30 10:00:00.000") == datetime(2025, 6, 30, 10, tzinfo=UTC).timestamp()
    assert epoch("2025-06-30T10:00:00.000Z") == datetime(2025, 6, 30, 10, tzinfo=UTC).timestamp()


def test_table_values_read_as_durations_counts_and_identifiers():
    assert shown("max_s", "3.55255593571E8") == "4,112 d"
    assert shown("p50_s", "2.5") == "2.5 s"
    assert shown("longest_gap_s", "42870.0") == "11.9 h"
    assert shown("expected_interval_s", "600") == "10.0 min"
    assert shown("readings", "24604") == "24,604"
    assert shown("seq", "1795370727923") == "1795370727923"
    assert shown("min_value", "1001.72") == "1001.72"
    assert shown("field", "temperature") == "temperature"
