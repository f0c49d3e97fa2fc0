"""The local report: what the QuickSight and OpenSearch dashboards show, as one HTML page.

`make demo` runs every `athena/*.sql` through the local Athena endpoint and passes the rows here
with the pipeline's accounting (`out/summary.json`); this module writes `out/report.html` with the
four charts (average temperature and humidity by hour of day, both over time), the data-quality
panel (gaps, out-of-range values, duplicates, late arrivals) and the accounting. The page is
self-contained: inline CSS and SVG drawn by `demo.report_svg`, no script, nothing loaded
from anywhere. If Chromium is installed, each chart is also rendered to a PNG with a headless
screenshot (`out/charts/*.png`).

Rebuild the report from the CSVs of an earlier run: `python -m demo.report --out out`.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from demo.report_svg import (
    PALETTE,
    Series,
    bar_chart,
    format_number,
    line_chart,
    time_ticks,
)

Rows = list[list[str]]  # Athena result rows, header first, every value a string
ALL_DEVICES = "(all devices)"  # hourly_profile.sql's label for the overall rows
CHART_SIZE = (620, 320)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, no sandbox (root in containers), and nothing that reaches the network by itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
)


class ReportError(RuntimeError):
    """The report could not be built or rendered; the message says which part and why."""


def records(rows: Rows | None) -> list[dict[str, str]]:
    if not rows:
        return []
    header, *body = rows
    return [dict(zip(header, row, strict=False)) for row in body]


def number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    return float(text)


def epoch(text: str) -> float:
    """Athena's timestamp text (`2015-08-21 00:00:00.000`), UTC, as epoch seconds."""
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def hour_label(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%m-%d %H:00")


def _colors(devices: Sequence[str]) -> dict[str, str]:
    return {device: PALETTE[n % len(PALETTE)] for n, device in enumerate(devices)}


# ---------------------------------------------------------------- charts


def hourly_chart(rows: Rows | None, measure: str, unit: str) -> str:
    """Average `measure` by hour of day (hourly_profile.sql): one bar per device, and the overall
    average when there is more than one device."""
    found = records(rows)
    devices = sorted({r["device_id"] for r in found if r["device_id"] != ALL_DEVICES})
    shown = devices + ([ALL_DEVICES] if len(devices) > 1 else [])
    colors = {**_colors(devices), ALL_DEVICES: "#444444"}
    series = []
    for device in shown:
        values = {
            int(r["hour_of_day"]): value
            for r in found
            if r["device_id"] == device and (value := number(r[f"avg_{measure}"])) is not None
        }
        series.append(Series(device, colors[device], values=values))
    return bar_chart(
        f"hourly-{measure}",
        f"Average {measure} by hour of day (UTC)",
        list(range(24)),
        series,
        x_title="hour of day (UTC)",
        y_title=f"{measure} ({unit})",
        width=CHART_SIZE[0],
        height=CHART_SIZE[1],
    )


def trend_chart(rows: Rows | None, measure: str, unit: str) -> str:
    """Hourly average (solid) and maximum (dashed) of `measure` over time (hourly_trend.sql)."""
    found = records(rows)
    devices = sorted({r["device_id"] for r in found})
    colors = _colors(devices)
    series = []
    for device in devices:
        mine = [r for r in found if r["device_id"] == device]
        for kind, dashed in (("avg", False), ("max", True)):
            points = [
                (epoch(r["hour_start"]), value)
                for r in mine
                if (value := number(r[f"{kind}_{measure}"])) is not None
            ]
            label = f"{device} {'maximum' if dashed else 'average'}"
            series.append(Series(label, colors[device], points=points, dashed=dashed))
    return line_chart(
        f"{measure}-over-time",
        f"{measure.capitalize()} over time (hourly average and maximum)",
        series,
        x_title="hour (UTC)",
        y_title=f"{measure} ({unit})",
        x_label=hour_label,
        x_ticks=time_ticks,
        max_step=3600 * 1.5,  # an hour without readings breaks the line
        width=CHART_SIZE[0],
        height=CHART_SIZE[1],
    )


def charts(results: dict[str, Rows]) -> dict[str, str]:
    """The four charts as SVG, by file name."""
    profile, trend = results.get("hourly_profile"), results.get("hourly_trend")
    return {
        "hourly-temperature": hourly_chart(profile, "temperature", "°C"),
        "hourly-humidity": hourly_chart(profile, "humidity", "%RH"),
        "temperature-over-time": trend_chart(trend, "temperature", "°C"),
        "humidity-over-time": trend_chart(trend, "humidity", "%RH"),
    }


# ---------------------------------------------------------------- tables and panels


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
    if key in ("seq", "device_id", "field"):
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


def _cell(key: str, value: str, flag: bool = False) -> str:
    style = ' class="flag"' if flag else ""
    return f"<td{style}>{escape(shown(key, value))}</td>"


def table(
    rows: list[dict[str, str]],
    columns: Sequence[tuple[str, str]],
    flagged: Callable[[str, str], bool] = lambda _column, _value: False,
) -> str:
    """An HTML table of `columns` (key, heading); `flagged(key, value)` highlights a cell."""
    if not rows:
        return '<p class="none">no rows</p>'
    head = "".join(f"<th>{escape(heading)}</th>" for _, heading in columns)
    body = "".join(
        "<tr>"
        + "".join(_cell(k, r.get(k, ""), flagged(k, r.get(k, ""))) for k, _ in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _nonzero(*keys: str) -> Callable[[str, str], bool]:
    def check(key: str, value: str) -> bool:
        return key in keys and (number(value) or 0) != 0

    return check


def quality_panel(results: dict[str, Rows], summary: dict[str, Any]) -> str:
    gaps = table(
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
    )
    ranges = table(
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
    )
    duplicates = table(
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
    )
    late = table(
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
    )
    invalid = int(summary.get("invalid", 0))
    return f"""
<section id="quality">
<h2>Data quality</h2>
<p>Rejected by the validator (under <code>errors/invalid/</code>, with the reason):
<strong class="{"flag" if invalid else "ok"}">{invalid}</strong></p>
<div class="panels">
<div><h3>Gaps against the expected interval</h3>{gaps}</div>
<div><h3>Duplicates in raw/ by (device_id, seq)</h3>{duplicates}</div>
<div><h3>Late arrivals (arrival minus reading time)</h3>{late}
<p class="note">A replayed log arrives years after its readings were taken.</p></div>
<div><h3>Out-of-range values, device flags and outliers</h3>{ranges}</div>
</div>
</section>"""


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


def accounting_panel(summary: dict[str, Any]) -> str:
    cards = []
    for key, label, meaning in ACCOUNTING:
        if key not in summary:
            continue
        bad = key in ("lost", "duplicates") and int(summary[key]) != 0
        cards.append(
            f'<div class="card{" bad" if bad else ""}" data-key="{key}">'
            f'<div class="value">{int(summary[key]):,}</div><div class="label">{escape(label)}'
            f'</div><div class="meaning">{escape(meaning)}</div></div>'
        )
    verdict = ""
    if {"lost", "duplicates", "published"} <= set(summary):
        whole = int(summary["lost"]) == 0 and int(summary["duplicates"]) == 0
        verdict = (
            f'<p class="{"ok" if whole else "flag"}">'
            + (
                f"Every one of the {int(summary['published']):,} published readings is in the "
                "compacted table exactly once."
                if whole
                else "Readings are missing or duplicated in the compacted table."
            )
            + "</p>"
        )
    return f"""
<section id="accounting">
<h2>Pipeline accounting</h2>
{verdict}
<div class="cards">{"".join(cards)}</div>
</section>"""


STYLE = """
body { font-family: DejaVu Sans, Verdana, Arial, sans-serif; margin: 24px; color: #222;
       background: #f6f7f9; max-width: 1320px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; } .sub { color: #555; margin: 0 0 12px; }
.charts { display: grid; grid-template-columns: repeat(2, 640px); gap: 12px; }
.charts figure { margin: 0; background: #fff; border: 1px solid #ddd; padding: 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: #fff; border: 1px solid #ddd; padding: 8px 12px; min-width: 120px; }
.card .value { font-size: 20px; font-weight: bold; } .card .label { font-size: 13px; }
.card .meaning { font-size: 11px; color: #666; max-width: 180px; }
.card.bad { border-color: #d62728; background: #fdecea; }
.panels { display: grid; grid-template-columns: 1fr; gap: 12px; }
.panels > div { background: #fff; border: 1px solid #ddd; padding: 4px 10px 10px; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child { text-align: left; } th { background: #f0f0f0; }
.flag { color: #b71c1c; font-weight: bold; } .ok { color: #1b5e20; }
.note, .none { color: #666; font-size: 11px; }
"""


def build_html(
    results: dict[str, Rows], summary: dict[str, Any], generated: datetime | None = None
) -> str:
    """The whole report page."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    figures = "".join(
        f'<figure data-chart="{name}">{svg}</figure>' for name, svg in charts(results).items()
    )
    gaps = records(results.get("quality_gaps"))
    span = ""
    if gaps:
        first = min(r["first_ts"] for r in gaps)[:16]
        last = max(r["last_ts"] for r in gaps)[:16]
        span = f" Readings from {escape(first)} to {escape(last)} UTC."
    latest = table(
        records(results.get("latest_per_device")),
        [
            ("device_id", "device"),
            ("seq", "seq"),
            ("ts", "time (UTC)"),
            ("temperature", "temperature (°C)"),
            ("humidity", "humidity (%RH)"),
            ("pressure", "pressure (hPa)"),
        ],
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sensor pipeline report</title>
<style>{STYLE}</style></head>
<body>
<h1>Sensor pipeline report</h1>
<p class="sub">Generated {when} from the athena/*.sql queries.{span}</p>
{accounting_panel(summary)}
<section id="charts">
<h2>Temperature and humidity</h2>
<div class="charts">{figures}</div>
</section>
{quality_panel(results, summary)}
<section id="latest"><h2>Latest reading per device</h2>{latest}</section>
</body></html>
"""


# ---------------------------------------------------------------- files and rendering


def write_report(
    out_dir: Path,
    results: dict[str, Rows],
    summary: dict[str, Any],
    generated: datetime | None = None,
) -> Path:
    """`out_dir/report.html` and each chart as `out_dir/charts/<name>.svg`."""
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(parents=True, exist_ok=True)
    for name, svg in charts(results).items():
        (chart_dir / f"{name}.svg").write_text(svg, encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(build_html(results, summary, generated), encoding="utf-8")
    return page


def find_browser() -> str | None:
    """Chromium (Debian's `chromium`) or Chrome, if installed."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_browser(browser: str, target: Path, *args: str, timeout: float = 120) -> str:
    """Headless Chromium on a local file with a fresh profile; returns its standard output."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            *args,
            target.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise ReportError(f"{browser} did not finish rendering {target} in {timeout}s") from err
    if done.returncode != 0:
        raise ReportError(f"{browser} failed on {target}: {done.stderr[-500:]}")
    return done.stdout


def screenshot(browser: str, target: Path, png: Path, width: int, height: int) -> Path:
    run_browser(browser, target, f"--window-size={width},{height}", f"--screenshot={png.resolve()}")
    if not png.is_file() or png.stat().st_size == 0:
        raise ReportError(f"{browser} wrote no screenshot of {target}")
    return png


def render_pngs(out_dir: Path, browser: str | None = None) -> list[Path]:
    """Each chart's SVG as a PNG next to it; [] when no browser is installed."""
    browser = browser or find_browser()
    if browser is None:
        return []
    return [
        screenshot(browser, svg, svg.with_suffix(".png"), *CHART_SIZE)
        for svg in sorted((out_dir / "charts").glob("*.svg"))
    ]


def publish(
    out_dir: Path,
    results: dict[str, Rows],
    summary: dict[str, Any],
    log: Callable[[str], None] = print,
) -> Path:
    """What `make demo` calls: the report, and its PNGs if a browser is installed."""
    page = write_report(out_dir, results, summary)
    log(f"report -> {page}")
    try:
        pngs = render_pngs(out_dir)
    except ReportError as err:  # the report itself is written; PNGs are a bonus
        log(f"charts not rendered to PNG: {err}")
        return page
    if pngs:
        log(f"charts rendered with headless Chromium -> {out_dir / 'charts'}/*.png")
    else:
        log("no Chromium installed: charts left as SVG (apt-get install chromium for PNGs)")
    return page


def read_results(out_dir: Path) -> tuple[dict[str, Rows], dict[str, Any]]:
    """The query results (`out/*.csv`) and accounting (`out/summary.json`) of an earlier run."""
    results = {}
    for path in sorted(out_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as source:
            results[path.stem] = list(csv.reader(source))
    summary_path = out_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return results, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.report",
        description="Rebuild out/report.html (and chart PNGs) from the CSVs of `make demo`.",
    )
    parser.add_argument("--out", type=Path, default=Path("out"), help="the demo's output folder")
    args = parser.parse_args(argv)
    results, summary = read_results(args.out)
    if not results:
        parser.error(f"no query results (*.csv) in {args.out}: run `make demo` first")
    publish(args.out, results, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
