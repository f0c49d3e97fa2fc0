"""The local dashboard after a short publish: readings of two devices go through the broker, the
rule, Kinesis, Firehose and the emulated OpenSearch (and the alerter), and the page, loaded in
headless Chromium, draws the four visualizations of the saved objects with both devices' data,
lists each device's latest reading and alert level, and shows the charts' data in its pixels."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faults_support import DEVICES, scenario_pipeline, wait_for

from localcloud.dashboards.saved_objects import panels
from tests.chromium import find_browser, pixels_near, run_browser, screenshot

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
HOT, MILD = DEVICES[0], DEVICES[1]
BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # the first two series' colours
NUMBER = r"-?\d+(?:\.\d+)?"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The local cloud after four readings of HOT (the last one critical) and three of MILD,
    one an hour up to now; the dashboard's URL once the page shows both devices."""
    with scenario_pipeline(tmp_path_factory, "dashboard") as pipeline:
        now = datetime.now(UTC).replace(microsecond=0)
        for device, temperatures in ((HOT, (22.0, 24.0, 27.5, 31.0)), (MILD, (19.0, 20.5, 21.0))):
            credentials = pipeline.credentials(device)
            for seq, temperature in enumerate(temperatures, start=1):
                when = now - timedelta(hours=len(temperatures) - seq, minutes=1)
                reading = {
                    "schema": 1,
                    "device_id": device,
                    "seq": seq,
                    "ts": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "temperature": temperature,
                    "humidity": 45.0 + seq,
                    "pressure": 1012.5,
                }
                sent = pipeline.mosquitto_pub(
                    credentials,
                    pipeline.telemetry_topic(device),
                    json.dumps(reading).encode(),
                    client_id=device,
                )
                assert sent.returncode == 0 and "failed" not in sent.stdout + sent.stderr
        url = pipeline.cloud.env()["DASHBOARDS_URL"]
        assert (pipeline.work / "cloud" / "env").read_text().count(f"DASHBOARDS_URL={url}") == 1

        def shows_both() -> bool:
            page = fetch(url)
            return f">{MILD}<" in page and "critical" in page and page.count("bars-") > 4

        wait_for(shows_both, 90, "the dashboard shows both devices and the critical level")
        yield url


@pytest.fixture(scope="module")
def dom(dashboard):
    """The page's DOM as headless Chromium builds it."""
    return run_browser(find_browser(), dashboard, "--dump-dom")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - local endpoint
        return response.read().decode()


def saved_panels() -> dict[str, str]:
    """The dashboard's visualizations, by id: their type, from the shipped saved objects."""
    lines = (ROOT / "dashboards" / "opensearch" / "saved-objects.ndjson").read_text().splitlines()
    ((_board, shown),) = panels([json.loads(line) for line in lines if line.strip()])
    return {panel.id: panel.kind for panel in shown}


def extent(path_d: str) -> tuple[float, float, int]:
    """(width, height, points) of an SVG path's `d`."""
    numbers = [float(n) for n in re.findall(NUMBER, path_d)]
    xs, ys = numbers[0::2], numbers[1::2]
    return max(xs) - min(xs), max(ys) - min(ys), len(xs)


def series(section: str, kind: str, device: str) -> list[tuple[float, float, int]]:
    """The extents of the paths matplotlib drew for `device` as `kind` (bars, average)."""
    groups = re.findall(rf'<g id="{kind}-{re.escape(device)}">\s*<path d="([^"]+)"', section)
    return [extent(d) for d in groups]


def test_chromium_shows_every_saved_visualization_with_both_devices_data(dom):
    panel = r'<section class="panel" data-panel="([^"]+)"(.*?)</section>'
    sections = dict(re.findall(panel, dom, re.S))
    assert set(sections) == set(saved_panels())
    assert "not drawn" not in dom
    for panel, kind in saved_panels().items():
        for device in (HOT, MILD):
            if kind == "histogram":  # one bar per hour with readings, each from zero up
                bars = series(sections[panel], "bars", device)
                assert len(bars) >= 3, (panel, device)
                assert all(width > 0 and height > 0 for width, height, _ in bars), (panel, bars)
            else:  # one line through the hourly averages
                (line,) = series(sections[panel], "average", device)
                assert line[2] >= 3 and line[0] > 0, (panel, device, line)


def test_each_device_shows_its_latest_reading_and_alert_level(dom):
    rows = dict(re.findall(r'<tr data-device="([^"]+)">(.*?)</tr>', dom, re.S))
    cells = {device: re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for device, row in rows.items()}
    assert set(cells) == {HOT, MILD}
    assert cells[HOT][2:5] == ["31.0", "49.0", "1012.5"]
    assert cells[HOT][5].startswith("critical: temperature critical")
    assert cells[MILD][2] == "21.0" and cells[MILD][5] == "normal"


def test_the_screenshot_shows_the_charts_data(dashboard, tmp_path):
    """The same page over a day without readings ("no data" in every chart) for comparison:
    the data add thousands of pixels in the two series' colours, on both sides of the grid."""
    browser = find_browser()
    drawn = screenshot(browser, dashboard, tmp_path / "page.png", 1400, 1200)
    empty_day = f"{dashboard}?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z"
    blank = screenshot(browser, empty_day, tmp_path / "blank.png", 1400, 1200)
    for color in (BLUE, RED):
        assert pixels_near(blank, color) == 0
        assert pixels_near(drawn, color, (0, 0, 700, 1200)) > 1000
        assert pixels_near(drawn, color, (700, 0, 1400, 1200)) > 1000


def test_a_time_range_the_emulated_opensearch_cannot_read_is_said_on_each_panel(dashboard):
    page = fetch(f"{dashboard}?from=yesterday-ish&to=now")
    reasons = re.findall(r'<p class="error">([^<]*)</p>', page)
    assert len(reasons) == len(saved_panels())
    assert all("not drawn" in reason and "yesterday-ish" in reason for reason in reasons), reasons
