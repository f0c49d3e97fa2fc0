"""The local report's charts, drawn with matplotlib from the query rows.

Each function returns a matplotlib `Figure` (no pyplot, no display); `svg()` and `png()` turn one
into bytes. Artists that the report's tests look for carry a `gid` (`threshold-warningHigh`,
`alert-critical`, `bars-<device>`, ...), which matplotlib also writes into the SVG as an element
id.

The charts show the log's times as they were taken: UTC (`TIME_NOTE`, stated on every time axis).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

import matplotlib as mpl
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
OVERALL_COLOR = "#555555"
LEVEL_STYLE = {  # threshold and alert marks: colour, line style, marker
    "warning": ("#e69500", (0, (6, 3)), "v"),
    "critical": ("#c62828", (0, (2, 2)), "X"),
    "recovered": ("#2e7d32", "-", "o"),
}
THRESHOLD_KEYS = ("criticalLow", "warningLow", "warningHigh", "criticalHigh")
TIME_NOTE = "time: UTC, as in the log (its time stamps carry no zone and are read as UTC)"
WIDE, TALL = (11.0, 3.8), (11.0, 2.6)  # inches, at 100 dpi in the page
# One plot area for every chart (legends to its right): time axes line up down the page.
LEFT, RIGHT = 0.095, 0.78

mpl.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
        "svg.hashsalt": "sensor-report",  # the same data gives the same SVG
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e6e6e6",
        "axes.axisbelow": True,
    }
)


@dataclass(frozen=True)
class Point:
    when: datetime
    value: float


@dataclass
class Trend:
    """One device's hourly series of one measure: `average` and `maximum` (or `minimum`)."""

    device: str
    average: list[Point] = field(default_factory=list)
    maximum: list[Point] = field(default_factory=list)
    minimum: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class Alert:
    when: datetime
    device: str
    metric: str
    transition: str  # raised, lowered, recovered
    level: str  # warning, critical (or normal when recovered)
    value: float | None
    threshold: float | None

    @property
    def kind(self) -> str:
        """What the mark shows: the level it went into, or `recovered`."""
        return "recovered" if self.transition == "recovered" else self.level


def svg(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def new_figure(size: tuple[float, float], label_lines: int = 2) -> tuple[Figure, Axes]:
    """A figure with the common plot area; `label_lines`: lines of x tick labels below it."""
    figure = Figure(figsize=size)
    bottom = (0.35 + 0.15 * label_lines) / size[1]  # tick labels and the axis title, in inches
    figure.subplots_adjust(left=LEFT, right=RIGHT, bottom=bottom, top=0.9)
    return figure, figure.add_subplot()


def legend(axes: Axes, handles: list | None = None, labels: list[str] | None = None) -> None:
    """The legend to the right of the plot area."""
    where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 7.5, "frameon": False}
    if handles is None:
        axes.legend(**where)
    else:
        axes.legend(handles, labels, **where)


def colors(devices: Sequence[str]) -> dict[str, str]:
    return {device: PALETTE[n % len(PALETTE)] for n, device in enumerate(devices)}


def _empty(figure: Figure, axes: Axes, title: str) -> Figure:
    axes.set_title(title, loc="left", fontweight="bold")
    axes.text(0.5, 0.5, "no data", ha="center", va="center", color="#888", fontsize=12)
    axes.set_axis_off()
    figure.set_gid("empty")
    return figure


def threshold_lines(
    axes: Axes, thresholds: Mapping[str, float], unit: str, limits: tuple[float, float]
) -> list[str]:
    """A labelled horizontal line for every threshold inside `limits`; returns the ones outside
    (for the caption)."""
    outside = []
    for key in THRESHOLD_KEYS:
        value = thresholds.get(key)
        if value is None:
            continue
        level = "critical" if key.startswith("critical") else "warning"
        label = f"{level} {'high' if key.endswith('High') else 'low'} {value:g} {unit}"
        if not limits[0] <= value <= limits[1]:
            outside.append(label)
            continue
        color, style, _ = LEVEL_STYLE[level]
        axes.axhline(value, color=color, linestyle=style, linewidth=1.2, gid=f"threshold-{key}")
        axes.annotate(
            label,
            xy=(1, value),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7.5,
            color=color,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5},
        )
    return outside


def hourly_bars(
    title: str,
    unit: str,
    values: Mapping[str, Mapping[int, float]],
    readings: Mapping[str, Mapping[int, int]],
    thresholds: Mapping[str, float],
) -> Figure:
    """Average by hour of day, grouped bars per device (and overall), on an axis from zero.
    A bar whose hour holds fewer than half the usual readings is hatched and labelled `n=`."""
    figure, axes = new_figure(WIDE, label_lines=1)
    shown = [name for name, by_hour in values.items() if by_hour]
    if not shown:
        return _empty(figure, axes, title)
    palette = colors([n for n in shown if n != "(all devices)"])
    palette["(all devices)"] = OVERALL_COLOR
    width = 0.8 / len(shown)
    counts = [n for name in shown for n in readings.get(name, {}).values()]
    usual = median(counts) if counts else 0
    thin = False
    for number, name in enumerate(shown):
        hours = sorted(values[name])
        offsets = [h - 0.4 + width * (number + 0.5) for h in hours]
        heights = [values[name][h] for h in hours]
        bars = axes.bar(
            offsets,
            heights,
            width=width * 0.95,
            color=palette[name],
            label=name,
            gid=f"bars-{name}",
        )
        for bar, hour in zip(bars, hours, strict=True):
            count = readings.get(name, {}).get(hour)
            if count is not None and usual and count < usual / 2:
                thin = True
                bar.set_hatch("////")
                bar.set_edgecolor("white")
                axes.annotate(
                    f"n={count}",
                    xy=(bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=6.5,
                    rotation=90,
                )
    top = max(max(v.values()) for v in values.values() if v)
    high = max([top, *[v for v in thresholds.values() if v is not None]])
    axes.set_ylim(0, high * 1.08)
    threshold_lines(axes, thresholds, unit, (0, high * 1.08))
    axes.set_xlim(-0.6, 23.6)
    axes.set_xticks(range(24), [f"{h:02d}" for h in range(24)])
    axes.set_xlabel("hour of day (UTC, as in the log)")
    axes.set_ylabel(f"average ({unit}), axis from 0")
    axes.set_title(title, loc="left", fontweight="bold")
    handles, labels = axes.get_legend_handles_labels()
    if thin:
        handles.append(Patch(facecolor="#bbbbbb", hatch="////", edgecolor="white"))
        labels.append(f"hatched: under half the\nusual {usual:g} readings")
    legend(axes, handles, labels)
    return figure


def _plot_average(axes: Axes, trend: Trend, color: str) -> None:
    """A device's hourly average: the solid line of the over-time charts."""
    _plot_line(
        axes,
        trend.average,
        color=color,
        linewidth=1.8,
        label=f"{trend.device} hourly average",
        gid=f"average-{trend.device}",
    )


def _plot_line(axes: Axes, points: Sequence[Point], **style: Any) -> None:
    """`points` as a line in `style` that breaks where hours are missing (_with_breaks)."""
    xs, ys = _with_breaks(points)
    axes.plot(xs, ys, **style)


def _with_breaks(points: Sequence[Point], max_step_s: float = 5400) -> tuple[list, list]:
    """x and y for a line that breaks (NaN) where hours are missing, not drawn across the gap."""
    xs: list[datetime] = []
    ys: list[float] = []
    previous: datetime | None = None
    for point in sorted(points, key=lambda p: p.when):
        if previous is not None and (point.when - previous).total_seconds() > max_step_s:
            xs.append(previous)
            ys.append(math.nan)
        xs.append(point.when)
        ys.append(point.value)
        previous = point.when
    return xs, ys


def value_limits(values: Sequence[float], thresholds: Mapping[str, float]) -> tuple[float, float]:
    """The data's range, widened to the nearest threshold above and below it when that lies
    within one data span of it: the lines a reader compares the data with, without squeezing
    the data into a corner for a threshold far away (those are named in the caption)."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    lines = [v for v in thresholds.values() if v is not None]
    above = [v for v in lines if high < v <= high + span]
    below = [v for v in lines if low - span <= v < low]
    return (max(below) if below else low), (min(above) if above else high)


def time_axis(axes: Axes, times: Sequence[datetime]) -> None:
    """The axis over `times`, dated ticks with the year (about every 6 to 12 hours for a few
    days), a grid line every 3 hours when that stays readable, and the time-zone note."""
    first, last = min(times), max(times)
    margin = max((last - first) * 0.02, timedelta(hours=1))
    axes.set_xlim(first - margin, last + margin)
    locator = mdates.AutoDateLocator(minticks=6, maxticks=12)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d\n%H:%M"))
    if last - first <= timedelta(days=10):
        axes.xaxis.set_minor_locator(mdates.HourLocator(byhour=range(0, 24, 3)))
        axes.grid(which="minor", axis="x", color="#f3f3f3")
    axes.set_xlabel(TIME_NOTE)


def trend_chart(
    title: str,
    unit: str,
    trends: Sequence[Trend],
    thresholds: Mapping[str, float],
    alerts: Sequence[Alert] = (),
) -> tuple[Figure, list[str]]:
    """Hourly average (solid line) and maximum (dotted, triangles) per device, the thresholds
    as labelled lines and the alerts as marks at their time and value. Returns the figure and the
    thresholds that lie outside its value axis."""
    figure, axes = new_figure(WIDE)
    drawn = [t for t in trends if t.average or t.maximum]
    if not drawn:
        return _empty(figure, axes, title), []
    palette = colors([t.device for t in drawn])
    values: list[float] = []
    for trend in drawn:
        color = palette[trend.device]
        _plot_average(axes, trend, color)
        _plot_line(
            axes,
            trend.maximum,
            color=color,
            linewidth=1,
            linestyle=":",
            marker="^",
            markersize=3,
            alpha=0.8,
            label=f"{trend.device} hourly maximum",
            gid=f"maximum-{trend.device}",
        )
        values += [p.value for p in trend.average + trend.maximum]
    marked: set[str] = set()
    for alert in alerts:
        if alert.value is None or alert.kind not in LEVEL_STYLE:
            continue
        kind = alert.kind
        color, _, marker = LEVEL_STYLE[kind]
        axes.plot(
            [alert.when],
            [alert.value],
            linestyle="none",
            marker=marker,
            markersize=7,
            markeredgecolor="black",
            markeredgewidth=0.5,
            color=color,
            zorder=5,
            label=None if kind in marked else f"alert: {kind}",
            gid=f"alert-{kind}",
        )
        marked.add(kind)
        values.append(alert.value)
    low, high = value_limits(values, thresholds)
    pad = (high - low) * 0.06 or 1
    limits = (low - pad, high + pad)
    axes.set_ylim(*limits)
    outside = threshold_lines(axes, thresholds, unit, limits)
    times = [p.when for t in drawn for p in t.average + t.maximum]
    time_axis(axes, times + [a.when for a in alerts if a.value is not None])
    axes.set_ylabel(unit)
    axes.set_title(title, loc="left", fontweight="bold")
    legend(axes)
    return figure, outside


def pressure_chart(title: str, unit: str, trends: Sequence[Trend]) -> Figure:
    """Hourly average pressure (line) within the hour's minimum-to-maximum range (band)."""
    figure, axes = new_figure(WIDE)
    drawn = [t for t in trends if t.average]
    if not drawn:
        return _empty(figure, axes, title)
    palette = colors([t.device for t in drawn])
    for trend in drawn:
        color = palette[trend.device]
        if trend.minimum and trend.maximum:
            low = {p.when: p.value for p in trend.minimum}
            high = {p.when: p.value for p in trend.maximum}
            xs, lows = _with_breaks([Point(w, v) for w, v in low.items() if w in high])
            highs = [
                high.get(x, math.nan) if not math.isnan(y) else math.nan
                for x, y in zip(xs, lows, strict=True)
            ]
            axes.fill_between(
                xs,
                lows,
                highs,
                color=color,
                alpha=0.2,
                linewidth=0,
                label=f"{trend.device} hourly min to max",
                gid=f"range-{trend.device}",
            )
        _plot_average(axes, trend, color)
    time_axis(axes, [p.when for t in drawn for p in t.average])
    axes.set_ylabel(unit)
    axes.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%.0f"))
    axes.set_title(title, loc="left", fontweight="bold")
    legend(axes)
    return figure


def readings_chart(
    title: str, counts: Mapping[str, Sequence[Point]], expected: float | None
) -> Figure:
    """Readings per hour over time, per device, with the count the expected interval gives."""
    figure, axes = new_figure(TALL)
    drawn = {device: points for device, points in counts.items() if points}
    if not drawn:
        return _empty(figure, axes, title)
    palette = colors(list(drawn))
    for device, points in drawn.items():
        xs, ys = _with_breaks(points)
        axes.step(
            xs,
            ys,
            where="post",
            color=palette[device],
            linewidth=1.2,
            label=f"{device} readings per hour",
            gid=f"readings-{device}",
        )
    if expected:
        axes.axhline(
            expected,
            color="#888",
            linestyle="--",
            linewidth=1,
            gid="readings-expected",
            label=f"expected {expected:g} per hour",
        )
    top = max(p.value for points in drawn.values() for p in points)
    axes.set_ylim(0, max(top, expected or 0) * 1.15)
    time_axis(axes, [p.when for points in drawn.values() for p in points])
    axes.set_ylabel("readings")
    axes.set_title(title, loc="left", fontweight="bold")
    legend(axes)
    return figure


def alert_timeline(
    title: str, alerts: Sequence[Alert], span: tuple[datetime, datetime] | None = None
) -> Figure:
    """One row per device and metric, one mark per alert at its time: the level it went into.
    `span`: the data's first and last hour, so that the time axis matches the other charts."""
    figure, axes = new_figure(TALL)
    if not alerts:
        return _empty(figure, axes, title)
    rows = sorted({(a.device, a.metric) for a in alerts})
    index = {row: n for n, row in enumerate(rows)}
    for kind in ("warning", "critical", "recovered"):
        mine = [a for a in alerts if a.kind == kind]
        if not mine:
            continue
        color, _, marker = LEVEL_STYLE[kind]
        axes.plot(
            [a.when for a in mine],
            [index[(a.device, a.metric)] for a in mine],
            linestyle="none",
            marker=marker,
            markersize=8,
            color=color,
            markeredgecolor="black",
            markeredgewidth=0.5,
            label={"recovered": "recovered (back to normal)"}.get(kind, f"into {kind}"),
            gid=f"timeline-{kind}",
        )
    axes.set_yticks(
        range(len(rows)), [f"{device}\n{metric}" for device, metric in rows], fontsize=7.5
    )
    axes.set_ylim(-0.7, len(rows) - 0.3)
    time_axis(axes, [a.when for a in alerts] + (list(span) if span else []))
    axes.set_title(title, loc="left", fontweight="bold")
    legend(axes)
    return figure


def legend_handles(figure: Figure) -> list[str]:
    """The legend's labels, in order (for tests and captions)."""
    found = []
    for axes in figure.axes:
        legend = axes.get_legend()
        if legend is not None:
            found += [text.get_text() for text in legend.get_texts()]
    return found
