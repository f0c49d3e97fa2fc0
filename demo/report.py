"""The local report: what the QuickSight and OpenSearch dashboards show, and more, as one HTML page.

`make demo` runs every `athena/*.sql` through the local Athena endpoint and passes the rows here
with the alerts it raised (`out/alerts.csv`), the alert thresholds the deployed alerter uses
(`out/thresholds.json`) and the pipeline's accounting (`out/summary.json`). This module writes
`out/report.html`, in this order:

- the charts (`demo.report_charts`, matplotlib): average temperature and humidity by hour of day
  (bars from zero), temperature, humidity and pressure over time (hourly average and maximum, or
  the hour's range for pressure), readings per hour, the thresholds as lines and the alerts as
  marks; every time axis says the times are UTC as in the log;
- the alerts: a timeline and a table;
- the data-quality panel (the quality score per device, gaps, out-of-range values, duplicates,
  late arrivals) and the latest
  reading per device;
- by place, when the device registry names places: the apparent temperature per room over time
  and a table of each room, floor, building and site per day (athena/places_*.sql);
- the accounting of every reading, last.

The page comes from the jinja2 template `demo/templates/report.html.j2` and is self-contained:
inline CSS, each chart an SVG in a `data:` URI with alt text and a caption, no script, nothing
loaded from anywhere. Each chart is also written as `out/charts/<name>.svg` and `.png`.

Rebuild the report from the files of an earlier run: `python -m demo.report --out out`.
"""

from __future__ import annotations

import argparse
import base64
import csv
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.figure import Figure

from demo import report_charts as draw
from demo.report_charts import Alert, Point, Trend

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates"
Rows = list[list[str]]  # Athena result rows, header first, every value a string
Thresholds = dict[str, dict[str, float]]  # metric -> warningHigh, criticalHigh, ...
ALL_DEVICES = "(all devices)"  # hourly_profile.sql's label for the overall rows
TIME_ZONE_NOTE = (
    "Times are the log's own time stamps. They carry no time zone; the publisher reads them as "
    "UTC (its [replay] timezone setting, UTC by default), and every time and hour in this report "
    "is that UTC. For the shipped Astro Pi log, recorded in Cambridge, UK, in August 2015 (local "
    "time BST, UTC+1), this is an assumption: if the Pi's clock kept local time, every reading was "
    "taken one hour earlier than shown."
)
UNITS = {"temperature": "°C", "humidity": "%RH", "pressure": "hPa"}
NOT_MEASURED = "not measured"  # a null measurement (pressure is optional): never a made-up value


def records(rows: Rows | None) -> list[dict[str, str]]:
    if not rows:
        return []
    header, *body = rows
    return [dict(zip(header, row, strict=False)) for row in body]


def number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    return float(text)


def when(text: str) -> datetime:
    """Athena's timestamp text (`2015-08-21 00:00:00.000`) or an ISO 8601 time, as UTC."""
    parsed = datetime.fromisoformat(text.strip())
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch(text: str) -> float:
    return when(text).timestamp()


def format_number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# ---------------------------------------------------------------- data from the query rows


def hourly_profile(
    rows: Rows | None, measure: str
) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, int]]]:
    """Average `measure` and readings by hour of day, per device, plus the overall rows when there
    is more than one device (hourly_profile.sql)."""
    found = records(rows)
    devices = sorted({r["device_id"] for r in found if r["device_id"] != ALL_DEVICES})
    names = devices + ([ALL_DEVICES] if len(devices) > 1 else [])
    values: dict[str, dict[int, float]] = {name: {} for name in names}
    counts: dict[str, dict[int, int]] = {name: {} for name in names}
    for r in found:
        name, hour = r["device_id"], int(r["hour_of_day"])
        if name not in values or (value := number(r.get(f"avg_{measure}"))) is None:
            continue
        values[name][hour] = value
        if (readings := number(r.get("readings"))) is not None:
            counts[name][hour] = int(readings)
    return values, counts


def trends(rows: Rows | None, measure: str) -> list[Trend]:
    """Hourly average, maximum and minimum (where the query has them) per device
    (hourly_trend.sql)."""
    found = records(rows)
    result = []
    for device in sorted({r["device_id"] for r in found}):
        trend = Trend(device)
        for r in (r for r in found if r["device_id"] == device):
            hour = when(r["hour_start"])
            for kind, points in (
                ("avg", trend.average),
                ("max", trend.maximum),
                ("min", trend.minimum),
            ):
                if (value := number(r.get(f"{kind}_{measure}"))) is not None:
                    points.append(Point(hour, value))
        result.append(trend)
    return result


def readings_per_hour(rows: Rows | None) -> dict[str, list[Point]]:
    found = records(rows)
    return {
        device: [
            Point(when(r["hour_start"]), float(r["readings"]))
            for r in found
            if r["device_id"] == device and number(r.get("readings")) is not None
        ]
        for device in sorted({r["device_id"] for r in found})
    }


def expected_per_hour(results: Mapping[str, Rows]) -> float | None:
    """Readings an hour holds at the expected interval (quality_gaps.sql), if one is known."""
    intervals = [
        value
        for r in records(results.get("quality_gaps"))
        if (value := number(r.get("expected_interval_s")))
    ]
    return round(3600 / min(intervals)) if intervals else None


def alerts(rows: Rows | None) -> list[Alert]:
    """The alert history (`out/alerts.csv`: ts, device_id, metric, transition, level, value,
    threshold), in time order."""
    found = [
        Alert(
            when=when(r["ts"]),
            device=r.get("device_id", ""),
            metric=r.get("metric", ""),
            transition=r.get("transition", ""),
            level=r.get("level", ""),
            value=number(r.get("value")),
            threshold=number(r.get("threshold")),
        )
        for r in records(rows)
        if r.get("ts")
    ]
    return sorted(found, key=lambda a: (a.when, a.device, a.metric))


def default_thresholds(config: Mapping[str, Any] | None) -> Thresholds:
    """The `default` set of an `alertThresholds` value (metric -> line -> value)."""
    if not config:
        return {}
    default = config.get("default", {})
    return {
        metric: {k: float(v) for k, v in spec.items() if k in draw.THRESHOLD_KEYS and v is not None}
        for metric, spec in default.items()
    }


def cdk_json_thresholds(path: Path = ROOT / "cdk.json") -> Thresholds:
    """cdk.json's `alertThresholds` default: what the alerter uses unless a stage overrides it."""
    if not path.is_file():
        return {}
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return default_thresholds(context.get("alertThresholds"))


# ---------------------------------------------------------------- charts


@dataclass
class Chart:
    name: str
    figure: Figure
    alt: str
    caption: str

    @functools.cached_property
    def svg(self) -> bytes:
        return draw.svg(self.figure)

    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode()


def _thresholds_text(thresholds: Mapping[str, float], unit: str) -> str:
    parts = [
        f"{key[:-4] if key.endswith('High') else key[:-3]} "
        f"{'high' if key.endswith('High') else 'low'} {value:g} {unit}"
        for key in draw.THRESHOLD_KEYS
        if (value := thresholds.get(key)) is not None
    ]
    return ", ".join(parts) if parts else "none configured"


def _hourly_chart(results: Mapping[str, Rows], measure: str, thresholds: Thresholds) -> Chart:
    unit = UNITS[measure]
    values, counts = hourly_profile(results.get("hourly_profile"), measure)
    mine = thresholds.get(measure, {})
    figure = draw.hourly_bars(f"Average {measure} by hour of day (UTC)", unit, values, counts, mine)
    described = []
    for name, by_hour in values.items():
        if by_hour:
            low = min(by_hour, key=by_hour.__getitem__)
            high = max(by_hour, key=by_hour.__getitem__)
            described.append(
                f"{name}: lowest {by_hour[low]:g} {unit} at {low:02d}:00, highest "
                f"{by_hour[high]:g} {unit} at {high:02d}:00"
            )
    alt = (
        f"Bar chart of the average {measure} for each hour of the day (UTC), value axis from 0. "
        + ("; ".join(described) or "No data.")
        + f" Threshold lines: {_thresholds_text(mine, unit)}."
    )
    caption = (
        f"Average {measure} by hour of day, per device"
        + (" and over all devices" if ALL_DEVICES in values else "")
        + f". The axis starts at 0, so bar heights compare. Lines: the alert thresholds "
        f"({_thresholds_text(mine, unit)}). Hatched bars hold under half the usual readings."
    )
    return Chart(f"hourly-{measure}", figure, alt, caption)


def _trend_chart(
    results: Mapping[str, Rows], measure: str, thresholds: Thresholds, raised: Sequence[Alert]
) -> Chart:
    unit = UNITS[measure]
    series = trends(results.get("hourly_trend"), measure)
    mine = thresholds.get(measure, {})
    marks = [a for a in raised if a.metric == measure]
    figure, outside = draw.trend_chart(
        f"{measure.capitalize()} over time: hourly average and maximum", unit, series, mine, marks
    )
    described = [
        f"{t.device}: hourly average {min(p.value for p in t.average):g} to "
        f"{max(p.value for p in t.average):g} {unit}, highest hourly maximum "
        f"{max(p.value for p in t.maximum):g} {unit}"
        for t in series
        if t.average and t.maximum
    ]
    alt = (
        f"Line chart of {measure} over time (UTC): the hourly average as a solid line and the "
        "hourly maximum as a dotted line with triangles. "
        + ("; ".join(described) or "No data.")
        + f" Threshold lines: {_thresholds_text(mine, unit)}. {len(marks)} alerts marked."
    )
    caption = (
        f"{measure.capitalize()}: solid line the hourly average, dotted line with triangles the "
        f"hourly maximum; dashed lines the thresholds; marks the {len(marks)} {measure} alerts "
        "(triangle down: into warning, X: into critical, circle: recovered). A break in a line is "
        "an hour without readings." + (f" Off this axis: {', '.join(outside)}." if outside else "")
    )
    return Chart(f"{measure}-over-time", figure, alt, caption)


def _pressure_chart(results: Mapping[str, Rows]) -> Chart:
    series = trends(results.get("hourly_trend"), "pressure")
    figure = draw.pressure_chart("Pressure over time: hourly average and range", "hPa", series)
    described = [
        f"{t.device}: hourly average {min(p.value for p in t.average):g} to "
        f"{max(p.value for p in t.average):g} hPa"
        for t in series
        if t.average
    ]
    alt = (
        "Line chart of air pressure over time (UTC): the hourly average as a line inside a band "
        "from the hour's minimum to its maximum. " + ("; ".join(described) or "No data.")
    )
    caption = (
        "Pressure: line the hourly average, band the hour's minimum to maximum. No alert "
        "thresholds are set on pressure."
    )
    return Chart("pressure-over-time", figure, alt, caption)


def _readings_chart(results: Mapping[str, Rows]) -> Chart:
    counts = readings_per_hour(results.get("hourly_trend"))
    expected = expected_per_hour(results)
    figure = draw.readings_chart("Readings per hour", counts, expected)
    thin = sum(
        1 for points in counts.values() for p in points if expected and p.value < expected / 2
    )
    alt = (
        "Step chart of the number of readings in each hour (UTC)"
        + (f", against the expected {expected:g} per hour" if expected else "")
        + f"; {thin} hours hold under half the expected readings."
    )
    caption = (
        "Readings per hour: how much data each hourly point above stands on. "
        + (f"The dashed line is the expected {expected:g} per hour. " if expected else "")
        + "Hours with no readings at all are breaks in the line."
    )
    return Chart("readings-per-hour", figure, alt, caption)


def _alert_chart(results: Mapping[str, Rows], raised: Sequence[Alert]) -> Chart:
    hours = [when(r["hour_start"]) for r in records(results.get("hourly_trend"))]
    span = (min(hours), max(hours)) if hours else None
    figure = draw.alert_timeline("Alerts over time", raised, span)
    kinds = {kind: sum(1 for a in raised if a.kind == kind) for kind in draw.LEVEL_STYLE}
    alt = (
        f"Timeline of {len(raised)} alerts (UTC), one row per device and metric: "
        + ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        + "."
    )
    caption = (
        "Every alert the alerter raised, at the reading's time, one row per device and metric "
        "(temperature_raw is the sensor's uncompensated temperature, not charted above): "
        "triangle down into warning, X into critical, circle back to normal."
    )
    return Chart("alert-timeline", figure, alt, caption)


PLACE_LEVELS = ("site", "building", "floor", "room")


def place_name(row: Mapping[str, str]) -> str:
    """`site/building/floor/room` as far as the row's level goes (athena/places_*.sql)."""
    return "/".join(row[level] for level in PLACE_LEVELS if row.get(level))


def room_trends(rows: Rows | None) -> list[Trend]:
    """Hourly average and maximum apparent temperature per room (places_hourly.sql)."""
    by_room: dict[str, Trend] = {}
    for r in records(rows):
        if r.get("place_level") != "room":
            continue
        trend = by_room.setdefault(place_name(r), Trend(place_name(r)))
        hour = when(r["period_start"])
        for kind, points in (("avg", trend.average), ("max", trend.maximum)):
            if (value := number(r.get(f"{kind}_apparent_temperature"))) is not None:
                points.append(Point(hour, value))
    return [by_room[name] for name in sorted(by_room)]


def _places_chart(results: Mapping[str, Rows]) -> Chart | None:
    """Apparent temperature per room over time; None when no device has a room."""
    series = room_trends(results.get("places_hourly"))
    if not series:
        return None
    figure, _ = draw.trend_chart(
        "Apparent temperature by room: hourly average and maximum", "°C", series, {}
    )
    described = [
        f"{t.device}: hourly average {min(p.value for p in t.average):g} to "
        f"{max(p.value for p in t.average):g} °C, highest hourly maximum "
        f"{max(p.value for p in t.maximum):g} °C"
        for t in series
        if t.average and t.maximum
    ]
    alt = (
        "Line chart of the apparent temperature (NWS heat index) of each room over time (UTC): "
        "the hourly average as a solid line and the hourly maximum as a dotted line. "
        + ("; ".join(described) or "No data.")
    )
    caption = (
        "Apparent temperature per room (site/building/floor/room): the NWS heat index from "
        "temperature and humidity, the air temperature where the heat index is below 80 °F "
        "(26.7 °C). Solid line the hourly average, dotted line with triangles the hourly maximum."
    )
    return Chart("apparent-temperature-by-room", figure, alt, caption)


def place_table(results: Mapping[str, Rows]) -> Table:
    """Each place and day (places_daily.sql), rooms first, then floors, buildings and sites."""
    order = {level: n for n, level in enumerate(reversed(PLACE_LEVELS))}
    rows = sorted(
        records(results.get("places_daily")),
        key=lambda r: (order.get(r.get("place_level", ""), 9), place_name(r), r["period_start"]),
    )
    shown_rows = [{**r, "place": place_name(r), "day": r["period_start"][:10]} for r in rows]
    return table(
        shown_rows,
        [
            ("place_level", "level"),
            ("place", "place"),
            ("day", "day (UTC)"),
            ("devices", "devices"),
            ("readings", "readings"),
            ("min_temperature", "min °C"),
            ("avg_temperature", "avg °C"),
            ("max_temperature", "max °C"),
            ("avg_humidity", "avg %RH"),
            ("min_apparent_temperature", "min apparent °C"),
            ("avg_apparent_temperature", "avg apparent °C"),
            ("max_apparent_temperature", "max apparent °C"),
        ],
        limit=200,
    )


def charts(results: Mapping[str, Rows], thresholds: Thresholds | None = None) -> dict[str, Chart]:
    """Every chart of the page, by file name, in page order (the by-place chart only when the
    registry names rooms)."""
    limits = thresholds or {}
    raised = alerts(results.get("alerts"))
    found = [
        _hourly_chart(results, "temperature", limits),
        _hourly_chart(results, "humidity", limits),
        _trend_chart(results, "temperature", limits, raised),
        _trend_chart(results, "humidity", limits, raised),
        _pressure_chart(results),
        _readings_chart(results),
        _alert_chart(results, raised),
        _places_chart(results),
    ]
    return {chart.name: chart for chart in found if chart is not None}


# ---------------------------------------------------------------- tables and panels


@dataclass(frozen=True)
class Table:
    headings: list[str]
    rows: list[list[tuple[str, bool]]]  # (text, flagged)
    more: int = 0  # rows left out


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 4.2 s, 3.5 min, 2.1 h, 4,110 d."""
    magnitude = abs(seconds)
    if magnitude < 120:
        return f"{format_number(seconds)} s"
    if magnitude < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if magnitude < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} d" if magnitude >= 100 * 86400 else f"{seconds / 86400:.1f} d"


def shown(key: str, text: str) -> str:
    """A result value for a table: durations for `*_s` columns, counts with separators
    (identifiers such as `seq` as they are)."""
    if key in ("seq", "device_id", "field", "metric", "place", "day", "place_level"):
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    if key.endswith("_s"):
        return duration(value)
    if value.is_integer() and "." not in text and "E" not in text.upper():
        return f"{int(value):,}"
    return format_number(value)


def table(
    rows: list[dict[str, str]],
    columns: Sequence[tuple[str, str]],
    flagged: Callable[[str, str], bool] = lambda _column, _value: False,
    limit: int | None = None,
) -> Table:
    """`columns` (key, heading) of `rows`; `flagged(key, value)` highlights a cell."""
    kept = rows if limit is None else rows[:limit]
    return Table(
        [heading for _, heading in columns],
        [[(shown(k, r.get(k, "")), flagged(k, r.get(k, ""))) for k, _ in columns] for r in kept],
        len(rows) - len(kept),
    )


def _nonzero(*keys: str) -> Callable[[str, str], bool]:
    def check(key: str, value: str) -> bool:
        return key in keys and (number(value) or 0) != 0

    return check


def device_quality(rows: Rows | None) -> list[dict[str, str]]:
    """quality_hourly.sql summed per device: the share of all its expected readings that arrived
    valid, once and in order (the hours' `good` over their `expected`), and its lowest hour."""
    found = records(rows)
    summary = []
    for device in sorted({r["device_id"] for r in found}):
        hours = [r for r in found if r["device_id"] == device]

        def total(key: str, hours: list[dict[str, str]] = hours) -> int:
            return sum(int(number(r.get(key)) or 0) for r in hours)

        expected = total("expected")
        lowest = min(hours, key=lambda r: number(r.get("quality_score")) or 0.0)
        summary.append(
            {
                "device_id": device,
                "hours": str(len(hours)),
                "expected": str(expected),
                "received": str(total("received")),
                "good": str(total("good")),
                "duplicate_seq": str(total("duplicate_seq")),
                "duplicate_ts": str(total("duplicate_ts")),
                "out_of_range": str(total("out_of_range")),
                "backwards": str(total("backwards")),
                "quality_score": f"{min(1.0, total('good') / expected):.3f}" if expected else "",
                "lowest_hour": f"{lowest.get('quality_score', '')} ({lowest['hour_start'][:13]}h)",
            }
        )
    return summary


def _below(limit: float, *keys: str) -> Callable[[str, str], bool]:
    def check(key: str, value: str) -> bool:
        if key not in keys or not value:
            return False
        score = number(value.split(" ", maxsplit=1)[0])
        return score is not None and score < limit

    return check


QUALITY_WARNING = 0.95  # a score below it is highlighted


def quality_tables(results: Mapping[str, Rows]) -> dict[str, Table]:
    return {
        "score": table(
            device_quality(results.get("quality_hourly")),
            [
                ("device_id", "device"),
                ("hours", "hours"),
                ("expected", "expected"),
                ("received", "received"),
                ("good", "valid, once, in order"),
                ("duplicate_seq", "copies of a seq"),
                ("duplicate_ts", "repeated ts"),
                ("out_of_range", "out of range"),
                ("backwards", "ts backwards"),
                ("quality_score", "quality score"),
                ("lowest_hour", "lowest hour"),
            ],
            _below(QUALITY_WARNING, "quality_score", "lowest_hour"),
        ),
        "gaps": table(
            records(results.get("quality_gaps")),
            [
                ("device_id", "device"),
                ("readings", "readings"),
                ("expected_interval_s", "expected interval"),
                ("expected_readings", "expected"),
                ("missing_readings", "missing"),
                ("gaps", "gaps"),
                ("longest_gap_s", "longest gap"),
                ("missing_seq", "seq never seen"),
            ],
            _nonzero("missing_readings", "gaps", "missing_seq"),
        ),
        "duplicates": table(
            records(results.get("quality_duplicates")),
            [
                ("device_id", "device"),
                ("raw_rows", "rows in raw/"),
                ("readings", "readings"),
                ("duplicated_readings", "delivered twice or more"),
                ("extra_copies", "extra copies"),
                ("conflicting", "conflicting copies"),
            ],
            _nonzero("conflicting"),
        ),
        "late": table(
            records(results.get("quality_late_arrivals")),
            [
                ("device_id", "device"),
                ("p50_s", "median"),
                ("p95_s", "95th percentile"),
                ("max_s", "max"),
                ("clock_ahead", "clock ahead"),
                ("under_10s", "< 10 s"),
                ("under_1min", "< 1 min"),
                ("under_1h", "< 1 h"),
                ("under_1d", "< 1 day"),
                ("over_1d", ">= 1 day"),
            ],
            _nonzero("clock_ahead"),
        ),
        "ranges": table(
            records(results.get("quality_out_of_range")),
            [
                ("device_id", "device"),
                ("field", "field"),
                ("readings", "readings"),
                ("below_range", "below range"),
                ("above_range", "above range"),
                ("flagged", "flagged by device"),
                ("outliers", "outliers (4 sd)"),
                ("min_value", "min"),
                ("max_value", "max"),
            ],
            _nonzero("below_range", "above_range", "flagged", "outliers"),
        ),
    }


ALERT_ROWS_SHOWN = 200


def alert_table(raised: Sequence[Alert]) -> Table:
    rows = [
        {
            "ts": a.when.strftime("%Y-%m-%d %H:%M:%S"),
            "device_id": a.device,
            "metric": a.metric,
            "transition": a.transition,
            "level": a.level,
            "value": "" if a.value is None else format_number(a.value),
            "threshold": "" if a.threshold is None else format_number(a.threshold),
        }
        for a in raised
    ]
    return table(
        rows,
        [
            ("ts", "time (UTC)"),
            ("device_id", "device"),
            ("metric", "metric"),
            ("transition", "transition"),
            ("level", "level"),
            ("value", "value"),
            ("threshold", "threshold crossed"),
        ],
        lambda key, value: key == "level" and value == "critical",
        limit=ALERT_ROWS_SHOWN,
    )


ACCOUNTING = (
    ("published", "published", "readings the broker acknowledged (PUBACK)"),
    ("raw", "raw/ in S3", "distinct (device_id, seq) in the raw objects"),
    ("compacted", "compacted", "distinct readings in the Parquet table, through Athena"),
    ("search", "search", "distinct readings in the OpenSearch indices"),
    ("lost", "lost", "published minus compacted"),
    ("duplicates", "duplicates", "compacted rows beyond one per (device_id, seq)"),
    ("raw_repeats", "raw repeats", "extra copies in raw/ (at-least-once delivery)"),
    (
        "search_repeats",
        "search repeats",
        "documents beyond one per reading (delivered again in another hour's index)",
    ),
    ("invalid", "invalid", "rejected by the validator"),
    ("raw_objects", "raw objects", "objects under raw/"),
    ("compacted_objects", "compacted objects", "Parquet objects under compacted/"),
)


@dataclass(frozen=True)
class Card:
    key: str
    value: str
    label: str
    meaning: str
    bad: bool


def accounting(summary: Mapping[str, Any]) -> tuple[list[Card], str | None, bool]:
    """The cards, the verdict sentence (if the summary has what it needs) and whether it is good."""
    cards = [
        Card(
            key,
            f"{int(summary[key]):,}",
            label,
            meaning,
            key in ("lost", "duplicates") and int(summary[key]) != 0,
        )
        for key, label, meaning in ACCOUNTING
        if key in summary
    ]
    if not {"lost", "duplicates", "published"} <= set(summary):
        return cards, None, True
    whole = int(summary["lost"]) == 0 and int(summary["duplicates"]) == 0
    verdict = (
        f"Every one of the {int(summary['published']):,} published readings is in the "
        "compacted table exactly once."
        if whole
        else "Readings are missing or duplicated in the compacted table."
    )
    return cards, verdict, whole


# ---------------------------------------------------------------- the page


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def build_html(
    results: Mapping[str, Rows],
    summary: Mapping[str, Any],
    thresholds: Thresholds | None = None,
    generated: datetime | None = None,
    drawn: Mapping[str, Chart] | None = None,
) -> str:
    """The whole report page."""
    figures = drawn if drawn is not None else charts(results, thresholds)
    gaps = records(results.get("quality_gaps"))
    span = None
    if gaps:
        span = (min(r["first_ts"] for r in gaps)[:16], max(r["last_ts"] for r in gaps)[:16])
    raised = alerts(results.get("alerts"))
    cards, verdict, whole = accounting(summary)
    latest = table(
        [
            {k: (v or NOT_MEASURED) if k in UNITS else v for k, v in r.items()}
            for r in records(results.get("latest_per_device"))
        ],
        [
            ("device_id", "device"),
            ("seq", "seq"),
            ("ts", "time (UTC)"),
            ("temperature", "temperature (°C)"),
            ("humidity", "humidity (%RH)"),
            ("pressure", "pressure (hPa)"),
        ],
    )
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
            span=span,
            time_zone_note=TIME_ZONE_NOTE,
            charts=figures,
            alerts=raised,
            alert_table=alert_table(raised),
            alerts_known="alerts" in results,
            critical=sum(1 for a in raised if a.kind == "critical"),
            warning=sum(1 for a in raised if a.kind == "warning"),
            recovered=sum(1 for a in raised if a.kind == "recovered"),
            invalid=int(summary.get("invalid", 0)),
            quality=quality_tables(results),
            quality_warning=QUALITY_WARNING,
            places=place_table(results),
            places_known="places_daily" in results,
            latest=latest,
            cards=cards,
            verdict=verdict,
            whole=whole,
        )
    )


# ---------------------------------------------------------------- files


def write_report(
    out_dir: Path,
    results: Mapping[str, Rows],
    summary: Mapping[str, Any],
    thresholds: Thresholds | None = None,
    generated: datetime | None = None,
) -> Path:
    """`out_dir/report.html`, and each chart as `out_dir/charts/<name>.svg` and `.png`."""
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(parents=True, exist_ok=True)
    drawn = charts(results, thresholds)
    for name, chart in drawn.items():
        (chart_dir / f"{name}.svg").write_bytes(chart.svg)
        (chart_dir / f"{name}.png").write_bytes(draw.png(chart.figure))
    page = out_dir / "report.html"
    page.write_text(
        build_html(results, summary, thresholds, generated, drawn=drawn), encoding="utf-8"
    )
    return page


def publish(
    out_dir: Path,
    results: Mapping[str, Rows],
    summary: Mapping[str, Any],
    thresholds: Thresholds | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """What `make demo` calls: the report page and its charts."""
    page = write_report(out_dir, results, summary, thresholds)
    log(f"report -> {page} (charts as SVG and PNG in {out_dir / 'charts'})")
    return page


def read_results(out_dir: Path) -> tuple[dict[str, Rows], dict[str, Any]]:
    """The query results and alerts (`out/*.csv`) and accounting (`out/summary.json`) of an
    earlier run."""
    results = {}
    for path in sorted(out_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as source:
            results[path.stem] = list(csv.reader(source))
    summary_path = out_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return results, summary


def read_thresholds(out_dir: Path) -> Thresholds:
    """The thresholds the demo's alerter used (`out/thresholds.json`), else cdk.json's."""
    path = out_dir / "thresholds.json"
    if path.is_file():
        return default_thresholds(json.loads(path.read_text(encoding="utf-8")))
    return cdk_json_thresholds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.report",
        description="Rebuild out/report.html (and its charts) from the files of `make demo`.",
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="the demo's output folder")
    args = parser.parse_args(argv)
    results, summary = read_results(args.out)
    if not results:
        parser.error(f"no query results (*.csv) in {args.out}: run `make demo` first")
    publish(args.out, results, summary, read_thresholds(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
