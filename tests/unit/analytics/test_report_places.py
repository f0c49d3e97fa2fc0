"""The report's by-place section, from fixed rows of athena/places_*.sql (no services)."""

import re

from demo.report import build_html, charts, place_name
from tests.unit.analytics.test_report_page import SUMMARY

HEADER = [
    "place_level",
    "site",
    "building",
    "floor",
    "room",
    "period_start",
    "devices",
    "readings",
    "min_temperature",
    "avg_temperature",
    "max_temperature",
    "min_humidity",
    "avg_humidity",
    "max_humidity",
    "min_apparent_temperature",
    "avg_apparent_temperature",
    "max_apparent_temperature",
]
VALUES = ["20.0", "21.0", "22.0", "40.0", "45.0", "50.0"]  # temperature, humidity
DAY = "2025-08-21 00:00:00.000"


def _row(level, place, start, devices, max_apparent):
    return [level, *place, start, devices, "12", *VALUES, "20.0", "21.5", str(max_apparent)]


KITCHEN = ["campus", "north", "1", "kitchen"]
LAB = ["campus", "north", "2", "lab"]
HOURLY = [
    HEADER,
    *[
        _row("room", place, f"2025-08-21 {hour:02d}:00:00.000", "2", top)
        for place, top in ((KITCHEN, 23.0), (LAB, 31.25))
        for hour in range(6)
    ],
]
DAILY = [
    HEADER,
    _row("building", ["campus", "north", "", ""], DAY, "4", 31.25),
    _row("room", LAB, DAY, "2", 31.25),
]


def test_the_place_of_a_row_goes_as_far_as_its_level():
    assert place_name(dict(zip(HEADER, DAILY[2], strict=True))) == "campus/north/2/lab"
    assert place_name(dict(zip(HEADER, DAILY[1], strict=True))) == "campus/north"


def test_the_page_shows_each_room_over_time_and_each_place_per_day():
    results = {"places_hourly": HOURLY, "places_daily": DAILY}
    drawn = charts(results)
    assert "apparent-temperature-by-room" in drawn
    (axes,) = drawn["apparent-temperature-by-room"].figure.axes
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert any("campus/north/1/kitchen" in label for label in labels)
    html = build_html(results, SUMMARY, drawn=drawn)
    section = re.search(r'<section id="places">(.*?)</section>', html, re.S).group(1)
    assert 'data-chart="apparent-temperature-by-room"' in section
    assert "campus/north/2/lab" in section and "highest hourly maximum 31.25 °C" in section
    rows = re.findall(r"<tr><td>(room|building)</td><td>([^<]+)</td><td>([^<]+)</td>", section)
    assert rows == [
        ("room", "campus/north/2/lab", "2025-08-21"),
        ("building", "campus/north", "2025-08-21"),
    ]


def test_without_places_the_section_says_how_to_get_them():
    results = {"places_hourly": [HEADER], "places_daily": [HEADER]}
    drawn = charts(results)
    assert "apparent-temperature-by-room" not in drawn
    html = build_html(results, SUMMARY, drawn=drawn)
    assert "No device of the registry has a place" in html
