"""A panel's rows drawn as SVG with the local report's chart helpers (`demo/report_charts.py`):
a vertical bar chart (`histogram`) of one metric over a numeric `histogram`, grouped by terms, as
the report's hour-of-day bars; a `line` chart of `avg` and `max` over a `date_histogram`, as its
over-time lines. Titles and axis titles come from the saved object."""

from __future__ import annotations

from datetime import UTC, datetime

from matplotlib.figure import Figure

from demo import report_charts as draw
from localcloud.dashboards.saved_objects import Panel, Row, Unsupported

ALL = "(all)"  # the series' name when the visualization has no split


def figure(panel: Panel, rows: list[Row]) -> Figure:
    (segment,) = panel.schema("segment") or [None]
    group = next(iter(panel.schema("group")), None)
    metrics = panel.schema("metric")
    kinds = (panel.kind, segment and segment["type"], tuple(m["type"] for m in metrics))
    if kinds == ("histogram", "histogram", ("avg",)):
        chart = _bars(panel, rows, segment["id"], group, metrics[0]["id"])
    elif kinds[:2] == ("line", "date_histogram") and set(kinds[2]) <= {"avg", "max"}:
        chart = _lines(panel, rows, segment["id"], group, metrics)
    else:
        raise Unsupported(f"a {kinds[0]} chart of {kinds[2]} over {kinds[1]} ({panel.title!r})")
    axes = chart.axes[0]
    if chart.get_gid() != "empty":
        label = segment["params"].get("customLabel") or segment["params"]["field"]
        zone = " (UTC)" if segment["type"] == "date_histogram" and "UTC" not in label else ""
        axes.set_xlabel(label + zone)
        value_axes = panel.params.get("valueAxes") or [{}]
        axes.set_ylabel(value_axes[0].get("title", {}).get("text", ""))
    return chart


def _series(row: Row, group: dict | None) -> str:
    return str(row.keys[group["id"]]) if group else ALL


def _bars(panel: Panel, rows: list[Row], x: str, group: dict | None, metric: str) -> Figure:
    values: dict[str, dict[int, float]] = {}
    counts: dict[str, dict[int, int]] = {}
    for row in rows:
        if row.metrics[metric] is not None and row.count:
            name, slot = _series(row, group), int(row.keys[x])
            values.setdefault(name, {})[slot] = float(row.metrics[metric])  # type: ignore[arg-type]
            counts.setdefault(name, {})[slot] = row.count
    return draw.hourly_bars(panel.title, "", values, counts, {})


def _lines(panel: Panel, rows: list[Row], x: str, group: dict | None, metrics: list) -> Figure:
    trends: dict[str, draw.Trend] = {}
    for row in rows:
        trend = trends.setdefault(_series(row, group), draw.Trend(_series(row, group)))
        when = datetime.fromtimestamp(row.keys[x] / 1000, UTC)
        for metric in metrics:
            value = row.metrics[metric["id"]]
            if value is not None:
                kind = "average" if metric["type"] == "avg" else "maximum"
                getattr(trend, kind).append(draw.Point(when, value))
    chart, _outside = draw.trend_chart(panel.title, "", list(trends.values()), {})
    return chart
