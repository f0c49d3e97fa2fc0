"""The report's quality score per device (from quality_hourly.sql) and null measurements in the
latest-reading table (no services)."""

from compactor.quality import QUALITY_COLUMNS
from demo.report import build_html, device_quality

SUMMARY = {"published": 3, "raw": 3, "compacted": 3, "search": 3, "lost": 0, "duplicates": 0}
HOURLY = [
    list(QUALITY_COLUMNS),  # the header of quality_hourly.sql's result
    ["room-a", "2026-12-02 09:00:00.000", "10.0", "3", "3", "0", "0", "0", "0", "3", "1.0"],
    ["room-a", "2026-12-02 10:00:00.000", "10.0", "9", "10", "1", "1", "1", "1", "6", "0.667"],
    ["room-b", "2026-12-02 10:00:00.000", "60.0", "60", "60", "0", "0", "0", "0", "60", "1.0"],
]
LATEST = [
    ["device_id", "seq", "ts", "temperature", "humidity", "pressure"],
    ["room-a", "13", "2026-12-02 10:01:20.000", "21.0", "40.0", ""],
]


def test_the_score_of_a_device_is_its_good_readings_over_the_expected_ones_of_all_hours():
    rows = {r["device_id"]: r for r in device_quality(HOURLY)}
    assert rows["room-a"]["quality_score"] == "0.750"  # (3 + 6) / (3 + 9)
    assert rows["room-a"]["lowest_hour"] == "0.667 (2026-12-02 10h)"
    assert (rows["room-a"]["duplicate_ts"], rows["room-a"]["backwards"]) == ("1", "1")
    assert rows["room-b"]["quality_score"] == "1.000"
    assert device_quality(None) == []


def test_the_page_shows_the_score_per_device_and_highlights_a_low_one():
    html = build_html({"quality_hourly": HOURLY}, SUMMARY)
    assert "Quality score per device" in html
    assert '<td class="flag">0.75</td>' in html
    assert '<td class="flag">0.667 (2026-12-02 10h)</td>' in html
    assert "<td>1</td>" in html  # room-b's score, not highlighted


def test_a_measurement_that_was_not_taken_reads_as_such_not_as_a_number():
    html = build_html({"latest_per_device": LATEST}, SUMMARY)
    assert "<td>not measured</td>" in html
