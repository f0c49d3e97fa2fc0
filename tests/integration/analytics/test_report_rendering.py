"""The local report from the real queries on the local Athena endpoint, rendered by headless
Chromium: the DOM Chromium builds holds the four charts with their lines and bars, and the
screenshots show them (pixels in the series' colours across the plot, not a blank page)."""

import re

import pytest
from PIL import Image  # Pillow comes with sense-emu (requirements-dev.txt)

from demo.report import find_browser, render_pngs, run_browser, screenshot, write_report

pytestmark = pytest.mark.integration

BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # the first two series colours


@pytest.fixture(scope="module")
def browser():
    found = find_browser()
    if found is None:
        pytest.fail("Chromium is needed for this test: scripts/install-system-deps.sh installs it")
    return found


@pytest.fixture(scope="module")
def report(lake, tmp_path_factory):
    results = {name: lake.rows(sql) for name, sql in lake.named_queries().items()}
    summary = {
        "published": 33,
        "raw": 33,
        "compacted": 33,
        "search": 33,
        "lost": 0,
        "duplicates": 0,
    }
    out = tmp_path_factory.mktemp("out")
    return write_report(out, results, summary)


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of a PNG."""
    with Image.open(path) as image:
        rgb_image = image.convert("RGB")
        width, height = rgb_image.size
        data = rgb_image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    return width, height, [pixels[y * width : (y + 1) * width] for y in range(height)]


def near(pixel, color, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))


def columns_with(rows, color):
    return {x for row in rows for x, pixel in enumerate(row) if near(pixel, color)}


def test_chromium_builds_the_four_charts_with_their_data(report, browser):
    dom = run_browser(browser, report, "--dump-dom")
    svgs = re.findall(r'<svg[^>]*class="chart"[^>]*id="([^"]+)"', dom)
    assert svgs == [
        "hourly-temperature",
        "hourly-humidity",
        "temperature-over-time",
        "humidity-over-time",
    ]
    # Bars: pi-a has hours 10 and 11, pi-b hour 8, plus the overall average of the 3 hours.
    hourly = dom.split('id="hourly-temperature"')[1].split("</svg>")[0]
    assert hourly.count('class="bar"') == 2 + 1 + 3
    trend = dom.split('id="temperature-over-time"')[1].split("</svg>")[0]
    lines = dict(re.findall(r'data-series="([^"]+)" data-points="(\d+)"', trend))
    assert lines == {
        "pi-a average": "2",
        "pi-a maximum": "2",
        "pi-b average": "1",
        "pi-b maximum": "1",
    }
    assert "Gaps against the expected interval" in dom
    assert '<td class="flag">3</td>' in dom  # pi-a's missing readings


def blue_pixels(png):
    _width, _height, rows = png_pixels(png)
    return sum(1 for row in rows for pixel in row if near(pixel, BLUE))


def test_the_page_screenshot_shows_the_charts(report, browser, tmp_path):
    """The same page with its charts' data and without (every chart says "no data"): the
    charts add thousands of pixels in the series' colour, far beyond the legends."""
    drawn = screenshot(browser, report, tmp_path / "page.png", 1360, 1900)
    empty_dir = tmp_path / "empty"
    empty = write_report(empty_dir, {}, {"published": 0, "lost": 0, "duplicates": 0})
    blank = screenshot(browser, empty, tmp_path / "blank.png", 1360, 1900)
    assert png_pixels(drawn)[:2] == (1360, 1900)
    assert blue_pixels(blank) == 0
    assert blue_pixels(drawn) > 1000


def marks(svg_text):
    """(x, y, colour) at the centre of every bar and data point the SVG says it draws."""
    found = []
    for group in re.findall(
        r'<g class="series"[^>]*fill="(#[0-9a-f]{6})">(.*?)</g>', svg_text, re.S
    ):
        color, body = group
        for x, y, w, h in re.findall(
            r'<rect class="bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', body
        ):
            found.append((float(x) + float(w) / 2, float(y) + float(h) / 2, color))
    for cx, cy, color in re.findall(
        r'<circle class="point" cx="([\d.]+)" cy="([\d.]+)" r="[\d.]+" fill="(#[0-9a-f]{6})"',
        svg_text,
    ):
        found.append((float(cx), float(cy), color))
    return found


def rgb(color):
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def test_every_chart_png_shows_each_bar_and_point_where_the_svg_puts_it(report, browser):
    pngs = render_pngs(report.parent, browser)
    assert sorted(p.name for p in pngs) == [
        "hourly-humidity.png",
        "hourly-temperature.png",
        "humidity-over-time.png",
        "temperature-over-time.png",
    ]
    for png in pngs:
        expected = marks(png.with_suffix(".svg").read_text())
        assert len(expected) >= 5, png.name
        _width, _height, rows = png_pixels(png)
        for x, y, color in expected:
            pixel = rows[round(y)][round(x)]
            assert near(pixel, rgb(color), 60), (png.name, x, y, color, pixel)
