"""The local report from the real queries on the local Athena endpoint, rendered by headless
Chromium: the DOM Chromium builds holds every chart (an image with its alt text and caption), the
alerts and the accounting last; the screenshots show the charts' data (pixels in the series'
colours where matplotlib put each bar, not a blank page)."""

import re

import pytest
from analytics_lake import ALERTS

from demo.report import cdk_json_thresholds, charts, write_report
from tests.chromium import find_browser, near, pixels_near, png_pixels, run_browser, screenshot
from tests.report_figures import REPORT_CHARTS

pytestmark = pytest.mark.integration

BLUE = (0x1F, 0x77, 0xB4)  # the first device's colour
SVG_PX_PER_FIGURE_PX = 96 / 100  # matplotlib lays out at 100 dpi; Chromium shows 96 px per inch
ALERT_FIELDS = ["ts", "device_id", "metric", "transition", "level", "value", "threshold"]


@pytest.fixture(scope="module")
def browser():
    return find_browser()


@pytest.fixture(scope="module")
def results(lake):
    found = {name: lake.rows(sql) for name, sql in lake.named_queries().items()}
    alerts = [[str(alert[f]) for f in ALERT_FIELDS] for alert in ALERTS]
    return {**found, "alerts": [ALERT_FIELDS, *alerts]}


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    summary = {
        "published": 33,
        "raw": 33,
        "compacted": 33,
        "search": 33,
        "lost": 0,
        "duplicates": 0,
    }
    out = tmp_path_factory.mktemp("out")
    return write_report(out, results, summary, cdk_json_thresholds())


def blue_near(rows, x, y, reach=3):
    """Whether a pixel within `reach` of (x, y) has the first device's colour (a thin hour's
    bar is hatched)."""
    return any(
        near(rows[round(y) + dy][round(x) + dx], BLUE, 60)
        for dx in range(-reach, reach + 1)
        for dy in range(-reach, reach + 1)
    )


def blue_pixels(png):
    return pixels_near(png, BLUE)


def test_chromium_builds_the_page_with_every_chart_the_alerts_and_the_accounting_last(
    report, browser
):
    dom = run_browser(browser, report, "--dump-dom")
    figures = re.findall(r'<figure data-chart="([^"]+)">\s*<img src="data:image/svg', dom)
    # The lake's registry puts pi-a and pi-b in rooms: the apparent temperature chart follows.
    assert figures == [*REPORT_CHARTS, "apparent-temperature-by-room"]
    assert all(len(alt) > 40 for alt in re.findall(r'<img [^>]*alt="([^"]*)"', dom))
    assert "The alerter raised 6 alerts: 4 into warning, 1 into critical, 1 back to normal." in dom
    assert "Gaps against the expected interval" in dom
    assert '<td class="flag">3</td>' in dom  # pi-a's missing readings
    assert dom.index('id="accounting"') > dom.index('id="latest"') > dom.index('id="charts"')


def test_the_page_screenshot_shows_the_charts(report, browser, tmp_path):
    """The same page with its charts' data and without (every chart says "no data"): the
    charts add thousands of pixels in the first device's colour."""
    drawn = screenshot(browser, report, tmp_path / "page.png", 1200, 2400)
    empty = write_report(tmp_path / "empty", {}, {"published": 0, "lost": 0, "duplicates": 0})
    blank = screenshot(browser, empty, tmp_path / "blank.png", 1200, 2400)
    assert png_pixels(drawn)[:2] == (1200, 2400)
    assert blue_pixels(blank) == 0
    assert blue_pixels(drawn) > 1000


def test_each_bar_shows_where_matplotlib_put_it(results, report, browser, tmp_path):
    """Chromium's rendering of the hourly chart's SVG has the device's colour at the middle of
    every bar of pi-a, from the figure's own layout (and so does matplotlib's PNG)."""
    drawn = charts(results, cdk_json_thresholds())["hourly-temperature"].figure
    drawn.canvas.draw()
    (axes,) = drawn.axes
    bars = next(c for c in axes.containers if c.get_label() == "pi-a")
    height = drawn.bbox.height
    middles = []
    for bar in bars:
        x, y = axes.transData.transform(
            (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2)
        )
        middles.append((x, height - y))
    assert len(middles) == 2  # pi-a has readings in hours 10 and 11
    width_px = round(drawn.bbox.width * SVG_PX_PER_FIGURE_PX)
    height_px = round(height * SVG_PX_PER_FIGURE_PX)
    svg = report.parent / "charts" / "hourly-temperature.svg"
    shot = screenshot(browser, svg, tmp_path / "hourly.png", width_px, height_px)
    _w, _h, rows = png_pixels(shot)
    for x, y in middles:
        assert blue_near(rows, x * SVG_PX_PER_FIGURE_PX, y * SVG_PX_PER_FIGURE_PX), (x, y)
    _w, _h, rows = png_pixels(svg.with_suffix(".png"))
    for x, y in middles:
        assert blue_near(rows, x, y), (x, y)
