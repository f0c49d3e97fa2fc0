"""Issue 17's done-when test: a log that is not ours, through the local cloud.

A headerless CSV with a two-character separator (`", "`), Unix times in milliseconds, a device
column naming three room sensors, and no pressure column, replayed by the device publisher
(`python -m device publish`, one connection per device) through the whole pipeline. Then:

- every reading is in raw/, once in the compacted table and once in search, with the values and
  millisecond times of the log;
- pressure, which the sensors do not have, is null in raw/, the compacted table and search;
- the row room-a-1 sent twice (the same time and values, so a new seq) and the row of room-b-1
  whose time goes backwards are in `athena/quality_hourly.sql`, and the clean device scores 1;
- the device registry puts room-a-1 and room-a-2 in room A and room-b-1 in room B, and
  `athena/places_daily.sql` gives each room's apparent temperature equal to the NWS heat index
  of the log's rows computed here, independently (tests/heat_index.py); the log is warm enough
  (29 to 31 degC) for the regression to apply.

Slow: the compaction tail waits for its one-minute age.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from faults_support import (
    Publisher,
    compacted_copies,
    raw_readings_of,
    scenario_pipeline,
    search_documents,
    wait_delivered,
)
from fleet_log import HEADERLESS_LAYOUT
from heat_index import apparent_temperature

from demo.accounting import athena_query
from device.reading import format_ts
from localcloud.lambda_.resources import LambdaFunctions
from localcloud.lambda_.sources import scheduled_event

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ("room-a-1", "room-a-2", "room-b-1")
ROOMS = {"room-a-1": "roomA", "room-a-2": "roomA", "room-b-1": "roomB"}
REGISTRY = {
    device: {"site": "lab", "building": "main", "floor": "1", "room": room}
    for device, room in ROOMS.items()
}
SLOTS = 20  # readings per device, 10 s apart
REPEATED = ("room-a-1", 10)  # this row is in the log twice: the sensor sent it again
BACKWARDS = ("room-b-1", 12, 45_000)  # after this row, one 45 s after the start: backwards
LAYOUT = {"DEVICE_THING_NAME": "", **HEADERLESS_LAYOUT}


def start_ms() -> int:
    """Ten minutes into the hour before the last full one: inside the validator's window, all in
    one hour, and an hour that no schedule tick during the test scores. The compactor scores the
    last full hour at the tick `QUALITY_SETTLE_MINUTES` past the hour (08 in this context), while
    the module waits for compaction, and it asks Athena with a request token made of the hour: a
    log in that hour, replayed across hh:08, would be scored before it arrived, and the test's own
    tick for the hour would get that query's result back (Athena's idempotency)."""
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return int((hour - dt.timedelta(minutes=110)).timestamp() * 1000) + 123


def log_rows(start: int) -> list[tuple[int, str, str, str]]:
    """(epoch ms, device, temperature, humidity) in the order of the log."""
    rows = []
    for slot in range(SLOTS):
        for number, device in enumerate(DEVICES):
            row = (
                start + slot * 10_000,
                device,
                f"{29 + number + slot / 1000:.3f}",  # three decimals, kept as given
                f"{50 + number * 5 + slot / 8:.3f}",
            )
            rows.append(row)
            if (device, slot) == REPEATED:
                rows.append(row)
            if (device, slot) == BACKWARDS[:2]:
                rows.append((start + BACKWARDS[2], device, "25.5", "45.5"))
    return rows


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with scenario_pipeline(tmp_path_factory, "fleet-csv", deviceNames=REGISTRY) as running:
        yield running


@pytest.fixture(scope="module")
def replayed(pipeline):
    """The log published by one publisher for the three devices; (rows, seqs by device)."""
    rows = log_rows(start_ms())
    log = pipeline.work / "rooms.csv"
    log.write_text("".join(", ".join(map(str, row)) + "\n" for row in rows), encoding="utf-8")
    for device in DEVICES:
        pipeline.credentials(device)
    first = pipeline.credentials(DEVICES[0])
    env = {
        **LAYOUT,
        "DEVICE_MQTT_CERTIFICATE": str(first.certificate).replace(DEVICES[0], "{thing}"),
        "DEVICE_MQTT_PRIVATE_KEY": str(first.private_key).replace(DEVICES[0], "{thing}"),
    }
    publisher = Publisher(pipeline, DEVICES[0], log, 0, env)
    pipeline.publishers.append(publisher)
    publisher.start().finish()
    assert "read 62 rows, rejected 0" in publisher.log.read_text()
    next_seq = publisher.status()["next_seq"]
    per_device = Counter(device for _, device, _, _ in rows)
    seqs = {d: set(range(next_seq[d] - per_device[d], next_seq[d])) for d in DEVICES}
    for device in DEVICES:
        wait_delivered(pipeline, device, seqs[device])
        pipeline.wait_compacted(device, len(seqs[device]))
    return rows, seqs


def in_log_order(readings: list[dict]) -> list[dict]:
    return sorted(readings, key=lambda r: int(r["seq"]))


def test_every_reading_is_in_raw_compacted_and_search_once(pipeline, replayed):
    rows, seqs = replayed
    assert sum(len(s) for s in seqs.values()) == len(rows) == 62
    for device in DEVICES:
        raw = Counter(int(r["seq"]) for r in raw_readings_of(pipeline, device))
        assert set(raw) == seqs[device]
        compacted = compacted_copies(pipeline, device)
        assert compacted == Counter(dict.fromkeys(seqs[device], 1))
        search = Counter(int(d["seq"]) for d in search_documents(pipeline, device))
        assert search == Counter(dict.fromkeys(seqs[device], 1))


def test_the_values_and_millisecond_times_are_those_of_the_log(pipeline, replayed):
    rows, _ = replayed
    for device in DEVICES:
        sent = [
            (format_ts(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)), float(t), float(h))
            for ms, d, t, h in rows
            if d == device
        ]
        raw = in_log_order(raw_readings_of(pipeline, device))
        assert [(r["ts"], r["temperature"], r["humidity"]) for r in raw] == sent
        found = in_log_order(search_documents(pipeline, device))
        assert [(r["ts"], r["temperature"], r["humidity"]) for r in found] == sent


def test_pressure_that_no_sensor_measured_is_null_everywhere(pipeline, replayed):
    names = pipeline.names
    devices = ", ".join(f"'{d}'" for d in DEVICES)
    header, *counts = athena_query(
        "SELECT count(*) AS readings, count(pressure) AS with_pressure, "
        f"count(temperature) AS with_temperature FROM {names.table} "
        f"WHERE device_id IN ({devices})",
        names.database,
        names.workgroup,
    )
    assert dict(zip(header, counts[0], strict=True)) == {
        "readings": "62",
        "with_pressure": "0",
        "with_temperature": "62",
    }
    for device in DEVICES:
        for where, readings in (
            ("raw/", raw_readings_of(pipeline, device)),
            ("search", search_documents(pipeline, device)),
        ):
            assert all(r.get("pressure") is None for r in readings), where
            assert all("flags" not in r for r in readings), where  # nothing flagged missing


def test_the_repeated_and_the_backwards_readings_are_in_the_quality_query(pipeline, replayed):
    names = pipeline.names
    header, *rows = athena_query(
        (ROOT / "athena" / "quality_hourly.sql").read_text(encoding="utf-8"),
        names.database,
        names.workgroup,
    )
    quality = {
        row[0]: dict(zip(header, row, strict=True)) for row in rows if row[0] in set(DEVICES)
    }
    assert set(quality) == set(DEVICES), rows  # one hour each
    columns = ("expected", "received", "duplicate_seq", "duplicate_ts", "backwards", "good")
    found = {d: tuple(int(quality[d][c]) for c in columns) for d in DEVICES}
    assert found == {
        "room-a-1": (20, 21, 0, 1, 0, 20),  # the row sent twice: a repeated ts
        "room-a-2": (20, 20, 0, 0, 0, 20),
        "room-b-1": (20, 21, 0, 0, 1, 20),  # 45 s after the start, after the 120 s row
    }
    assert {d: quality[d]["quality_score"] for d in DEVICES} == dict.fromkeys(DEVICES, "1.0")
    assert {d: quality[d]["interval_s"] for d in DEVICES} == dict.fromkeys(DEVICES, "10.0")


def test_the_compactor_emits_each_device_s_hourly_score_once_the_hour_has_settled(
    pipeline, replayed
):
    """The schedule tick after the settle time, as EventBridge sends it, run by the local Lambda
    runtime with the compactor's own role: the named query, scoped to the hour, gives each
    device's score, which the handler emits as the QualityScore metric."""
    rows, _ = replayed
    hour = dt.datetime.fromtimestamp(rows[0][0] / 1000, dt.UTC).replace(minute=0, second=0)
    hour = hour.replace(microsecond=0)
    settle = int(pipeline.names.compactor_env["QUALITY_SETTLE_MINUTES"])
    tick = hour + dt.timedelta(hours=1, minutes=settle)
    function = pipeline.cloud.service(LambdaFunctions).function(pipeline.names.compactor_arn)
    summary = function.invoke(scheduled_event(pipeline.names.schedule_rule_arn, tick))
    assert summary["quality_error"] is None, summary
    scores = {s["device_id"]: s for s in summary["quality"] if s["device_id"] in DEVICES}
    assert {d: (s["score"], s["good"], s["expected"]) for d, s in scores.items()} == dict.fromkeys(
        DEVICES, (1.0, 20, 20)
    ), summary
    assert {s["hour"] for s in scores.values()} == {hour.isoformat()}


def test_each_room_s_apparent_temperature_is_the_heat_index_of_its_readings(pipeline, replayed):
    rows, _ = replayed
    by_room: dict[str, list[float]] = {}
    for _ms, device, temperature, humidity in rows:  # every row: a repeat is a second reading
        value = apparent_temperature(float(temperature), float(humidity))
        by_room.setdefault(ROOMS[device], []).append(value)
    names = pipeline.names
    header, *found = athena_query(
        (ROOT / "athena" / "places_daily.sql").read_text(encoding="utf-8"),
        names.database,
        names.workgroup,
    )
    daily = [dict(zip(header, row, strict=True)) for row in found]
    rooms = {r["room"]: r for r in daily if r["place_level"] == "room"}
    assert set(rooms) == set(by_room), daily
    for room, values in by_room.items():
        row = rooms[room]
        assert int(row["readings"]) == len(values)
        for column, expected in (
            ("min", min(values)),
            ("avg", sum(values) / len(values)),
            ("max", max(values)),
        ):
            assert float(row[f"{column}_apparent_temperature"]) == pytest.approx(
                expected, abs=0.006
            ), (room, column)
    warm = rooms["roomB"]
    assert float(warm["avg_apparent_temperature"]) > float(warm["avg_temperature"]) + 0.5
