"""The by-place queries (athena/places_*.sql) on the local Athena: the registry's places joined to
the readings, rolled up from room to site, and the apparent temperature against the NWS heat
index computed in Python from the same readings (tests/heat_index.py)."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from analytics_lake import REGISTRY, compacted_objects, devices_objects, readings

from tests.heat_index import apparent_temperature

pytestmark = pytest.mark.integration

GRID_DAY = datetime(2025, 8, 1, tzinfo=UTC)
# (temperature degC, humidity %): below the regression's range, the regression itself, its
# low-humidity (RH < 13 %, 80-112 degF) and high-humidity (RH > 85 %, 80-87 degF) adjustments,
# the simple formula's edge just above 80 degF, and no humidity at all.
GRID = [
    (20.0, 50.0),
    (26.0, 30.0),
    (27.0, 40.0),
    (30.0, 60.0),
    (32.0, 90.0),
    (29.0, 95.0),
    (35.0, 8.0),
    (40.0, 5.0),
    (43.0, 50.0),
    (26.5, 75.0),
    (31.0, None),
]


def _grid_rows():
    rows = []
    for hour, (temperature, humidity) in enumerate(GRID):
        ts = GRID_DAY + timedelta(hours=hour)
        rows.append(
            {
                **{name: None for name in ("pressure", "cpu_temp", "temperature_raw")},
                **{name: None for name in ("pitch", "roll", "yaw", "flags")},
                "device_id": "grid-1",
                "seq": hour + 1,
                "ts": ts,
                "arrival_ts": ts,
                "temperature": temperature,
                "humidity": humidity,
            }
        )
    return rows


@pytest.fixture(scope="module")
def places(lake):
    registry = {
        **REGISTRY,
        "grid-1": {"site": "test", "building": "b", "floor": "0", "room": "grid"},
    }
    s3 = boto3.client("s3")
    for key, body in {**compacted_objects(_grid_rows()), **devices_objects(registry)}.items():
        s3.put_object(Bucket=lake.bucket, Key=key, Body=body)
    return lake


def _rows(lake, name, level):
    return [row for row in lake.query(lake.named_queries()[name]) if row["place_level"] == level]


def _close(text, expected):
    assert text != "", f"expected {expected}, got NULL"
    assert float(text) == pytest.approx(round(expected, 2), abs=0.006)


def test_the_devices_table_holds_the_registry(places):
    rows = {r["device_id"]: r for r in places.query("SELECT * FROM devices")}
    assert rows["pi-b"] | {} == {
        "device_id": "pi-b",
        "site": "campus",
        "building": "north",
        "floor": "2",
        "room": "lab",
        "sensor": "SHT31",
        "place": "campus/north/2/lab",
    }
    assert rows["pi-c"]["place"] == ""  # registered without a place (NULL)


def test_the_apparent_temperature_follows_the_nws_heat_index(places):
    rows = _rows(places, "places_hourly", "room")
    grid = {r["period_start"]: r for r in rows if r["room"] == "grid"}
    assert len(grid) == len(GRID)
    for hour, (temperature, humidity) in enumerate(GRID):
        row = grid[(GRID_DAY + timedelta(hours=hour)).strftime("%Y-%m-%d %H:%M:%S.000")]
        expected = apparent_temperature(temperature, humidity)
        label = f"{temperature} degC, {humidity} %"
        if expected is None:
            assert row["max_apparent_temperature"] == "", label
            continue
        for column in ("min", "avg", "max"):
            _close(row[f"{column}_apparent_temperature"], expected)
        if expected != temperature:
            assert abs(expected - temperature) > 0.1, label  # the regression really applied


def test_per_room_apparent_temperature_equals_the_independent_computation(places):
    by_room = defaultdict(list)
    for reading in readings():
        place = REGISTRY[reading["device_id"]]
        value = apparent_temperature(reading["temperature"], reading["humidity"])
        by_room[(place["room"], reading["ts"].strftime("%Y-%m-%d"))].append(value)
    rows = {(r["room"], r["period_start"][:10]): r for r in _rows(places, "places_daily", "room")}
    assert set(rows) == set(by_room) | {("grid", "2025-08-01")}
    for key, values in by_room.items():
        row = rows[key]
        assert int(row["readings"]) == len(values)
        _close(row["min_apparent_temperature"], min(values))
        _close(row["max_apparent_temperature"], max(values))
        _close(row["avg_apparent_temperature"], sum(values) / len(values))
    # pi-b's 30 degC at 60 %: the heat index is well above the air temperature.
    assert float(rows[("lab", "2025-07-01")]["avg_apparent_temperature"]) > 32.5


def test_places_roll_up_from_room_to_site(places):
    daily = places.query(places.named_queries()["places_daily"])
    levels = {(r["place_level"], r["site"], r["building"], r["floor"], r["room"]) for r in daily}
    assert ("floor", "campus", "north", "1", "") in levels
    assert ("building", "campus", "north", "", "") in levels
    assert ("site", "campus", "", "", "") in levels
    campus = [r for r in daily if r["place_level"] == "site" and r["site"] == "campus"]
    assert sum(int(r["readings"]) for r in campus) == len(readings())
    assert {r["devices"] for r in campus} == {"1"}  # pi-a and pi-b read on different days
    buildings = [r for r in daily if r["place_level"] == "building" and r["site"] == "campus"]
    assert sorted(r["max_temperature"] for r in buildings) == ["30.0", "45.0"]
