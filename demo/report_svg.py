"""Small SVG charts for the local report: line charts and grouped bar charts, drawn here so that the
report needs no chart library and loads nothing from anywhere.

Every chart is one `<svg>` with a white background, a title, axes with "nice" ticks, a legend,
and one element per series: a `<path class="series">` for a line (with `data-points`, the number
of points it joins; a break in the data starts a new sub-path, so a gap is not drawn as a line)
or a `<g class="series">` of `<rect class="bar">` for bars. An empty chart says "no data".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 58, 52


@dataclass(frozen=True)
class Series:
    """One line (points in x order) or one set of bars (category -> value)."""

    name: str
    color: str
    points: Sequence[tuple[float, float]] = ()
    values: dict[int, float] = field(default_factory=dict)
    dashed: bool = False


@dataclass(frozen=True)
class Frame:
    """The plot area and the data ranges it shows."""

    width: int
    height: int
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    @property
    def left(self) -> float:
        return MARGIN_LEFT

    @property
    def right(self) -> float:
        return self.width - MARGIN_RIGHT

    @property
    def top(self) -> float:
        return MARGIN_TOP

    @property
    def bottom(self) -> float:
        return self.height - MARGIN_BOTTOM

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * (self.right - self.left)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return self.bottom - (value - self.y_min) / span * (self.bottom - self.top)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"ticks need finite bounds, got {low}, {high}")
    if high < low:
        low, high = high, low
    if high == low:
        low, high = low - 1, high + 1
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def time_ticks(start: float, end: float, count: int = 7) -> list[float]:
    """Epoch-second ticks on whole hours (1, 2, 3, 6, 12 h) or whole days (UTC)."""
    span = max(end - start, 3600.0)
    for hours in (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720):
        step = hours * 3600
        if span / step <= count:
            break
    first = math.ceil(start / step) * step
    ticks = []
    value = first
    while value <= end:
        ticks.append(float(value))
        value += step
    return ticks or [start]


def format_number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, body: str, **attributes: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attributes.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(body)}</text>'


def _frame_and_axes(
    title: str,
    frame: Frame,
    x_ticks: Sequence[float],
    x_label: Callable[[float], str],
    y_ticks: Sequence[float],
    x_title: str,
    y_title: str,
    x_positions: Callable[[float], float] | None = None,
) -> list[str]:
    position = x_positions or frame.x
    parts = [
        f'<rect width="{frame.width}" height="{frame.height}" fill="#ffffff"/>',
        _text(frame.left, 22, title, font_size="15", font_weight="bold", fill="#222"),
    ]
    for tick in y_ticks:
        y = frame.y(tick)
        parts.append(
            f'<line class="grid" x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.right:.1f}" '
            f'y2="{y:.1f}" stroke="#e6e6e6" stroke-width="1"/>'
        )
        parts.append(
            _text(frame.left - 6, y + 4, format_number(tick), font_size="11", text_anchor="end")
        )
    for tick in x_ticks:
        x = position(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{frame.bottom:.1f}" x2="{x:.1f}" y2="{frame.bottom + 4:.1f}" '
            'stroke="#555" stroke-width="1"/>'
        )
        parts.append(
            _text(x, frame.bottom + 17, x_label(tick), font_size="11", text_anchor="middle")
        )
    parts.append(
        f'<path class="axis" d="M{frame.left:.1f} {frame.top:.1f} V{frame.bottom:.1f} '
        f'H{frame.right:.1f}" stroke="#555" stroke-width="1" fill="none"/>'
    )
    parts.append(
        _text(
            (frame.left + frame.right) / 2,
            frame.height - 10,
            x_title,
            font_size="12",
            text_anchor="middle",
            fill="#444",
        )
    )
    middle = (frame.top + frame.bottom) / 2
    parts.append(
        _text(
            16,
            middle,
            y_title,
            font_size="12",
            text_anchor="middle",
            fill="#444",
            transform=f"rotate(-90 16 {middle:.1f})",
        )
    )
    return parts


def _legend(series: Sequence[Series], frame: Frame) -> list[str]:
    parts = ['<g class="legend">']
    x = frame.left
    for item in series:
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        parts.append(
            f'<line x1="{x:.1f}" y1="40" x2="{x + 18:.1f}" y2="40" stroke="{item.color}" '
            f'stroke-width="3"{dash}/>'
        )
        parts.append(_text(x + 23, 44, item.name, font_size="11", fill="#333"))
        x += 32 + 6.5 * len(item.name)
    parts.append("</g>")
    return parts


def _svg(frame: Frame, parts: list[str], chart_id: str) -> str:
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'width="{frame.width}" height="{frame.height}" viewBox="0 0 {frame.width} {frame.height}" '
        f'font-family="{FONT}" role="img">\n{body}\n</svg>\n'
    )


def _empty(chart_id: str, title: str, width: int, height: int) -> str:
    frame = Frame(width, height, 0, 1, 0, 1)
    parts = [
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(frame.left, 22, title, font_size="15", font_weight="bold", fill="#222"),
        _text(width / 2, height / 2, "no data", font_size="14", text_anchor="middle", fill="#888"),
    ]
    return _svg(frame, parts, chart_id)


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    *,
    x_title: str,
    y_title: str,
    x_label: Callable[[float], str],
    x_ticks: Callable[[float, float], list[float]] | None = None,
    max_step: float | None = None,
    width: int = 620,
    height: int = 320,
) -> str:
    """Lines through each series' points; a step longer than `max_step` breaks the line."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return _empty(chart_id, title, width, height)
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    y_ticks = nice_ticks(min(ys), max(ys))
    pad = 0.02 * ((max(xs) - min(xs)) or 1)  # keeps points at the ends inside the plot
    frame = Frame(width, height, min(xs) - pad, max(xs) + pad, y_ticks[0], y_ticks[-1])
    ticks = (x_ticks or (lambda a, b: nice_ticks(a, b, 6)))(frame.x_min, frame.x_max)
    ticks = [t for t in ticks if frame.x_min <= t <= frame.x_max]
    parts = _frame_and_axes(title, frame, ticks, x_label, y_ticks, x_title, y_title)
    for item in drawn:
        commands = []
        previous: float | None = None
        for x, y in sorted(item.points):
            jump = previous is None or (max_step is not None and x - previous > max_step)
            commands.append(f"{'M' if jump else 'L'}{frame.x(x):.1f} {frame.y(y):.1f}")
            previous = x
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        parts.append(
            f'<path class="series" data-series="{escape(item.name)}" '
            f'data-points="{len(item.points)}" d="{" ".join(commands)}" fill="none" '
            f'stroke="{item.color}" stroke-width="2" stroke-linejoin="round"{dash}/>'
        )
        if len(item.points) == 1 or len(item.points) <= 48:
            for x, y in item.points:
                parts.append(
                    f'<circle class="point" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.5" '
                    f'fill="{item.color}"/>'
                )
    parts += _legend(drawn, frame)
    return _svg(frame, parts, chart_id)


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[int],
    series: Sequence[Series],
    *,
    x_title: str,
    y_title: str,
    x_label: Callable[[float], str] = lambda c: f"{int(c):02d}",
    width: int = 620,
    height: int = 320,
) -> str:
    """Grouped bars: one group per category, one bar per series with a value there. The value
    axis starts at a round value below the smallest bar rather than at zero, so that hourly
    differences of a degree stay visible (the axis is labelled)."""
    drawn = [s for s in series if s.values]
    if not drawn or not categories:
        return _empty(chart_id, title, width, height)
    values = [v for s in drawn for v in s.values.values()]
    low, high = min(values), max(values)
    # Start the value axis below the smallest bar, so that every bar has a visible height.
    y_ticks = nice_ticks(low - 0.1 * ((high - low) or abs(low) or 1), high)
    frame = Frame(width, height, 0, len(categories), y_ticks[0], y_ticks[-1])
    slot = (frame.right - frame.left) / len(categories)
    bar = slot * 0.8 / len(drawn)
    index = {c: n for n, c in enumerate(categories)}

    def centre(category: float) -> float:
        return frame.left + (index[int(category)] + 0.5) * slot

    step = max(1, math.ceil(len(categories) / 12))
    ticks = [c for n, c in enumerate(categories) if n % step == 0]
    parts = _frame_and_axes(
        title, frame, ticks, x_label, y_ticks, x_title, y_title, x_positions=centre
    )
    for number, item in enumerate(drawn):
        parts.append(f'<g class="series" data-series="{escape(item.name)}" fill="{item.color}">')
        for category, value in sorted(item.values.items()):
            if category not in index:
                continue
            x = frame.left + index[category] * slot + slot * 0.1 + number * bar
            top = frame.y(value)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{max(frame.bottom - top, 0.5):.1f}"><title>{escape(item.name)} '
                f"{int(category):02d}: {format_number(value)}</title></rect>"
            )
        parts.append("</g>")
    parts += _legend(drawn, frame)
    return _svg(frame, parts, chart_id)
