"""A small lake with known answers: compacted Parquet and raw GZIP JSON lines for two devices.

pi-a reads every 10 s from 2025-06-30 10:58:00Z (30 slots). It took no reading in slots 10 and
11 (a 30 s step: two missing readings, seq continues), and the reading of slot 20 was lost on
the way (a 20 s step: one missing reading, and one seq number never seen). Hour 10 has slots
0-9 at 20.0 degC / 40 %RH, hour 11 the rest at 21.0 degC / 50 %RH except a 45.0 degC spike in
slot 25. One reading has no cpu_temp and says so in its flags. Slots 26-28 arrived 120 s late
(spooled), the others 2 s late. Raw holds seq 1005 twice.

pi-b reads every 60 s from 2025-07-01 08:00:00Z, seq 1-6, 30.0 degC / 60 %RH / 1000 hPa, except
seq 4 whose pressure, 1300 hPa, is out of range (flagged). Seq 1 arrived 1 s before its own
timestamp (device clock ahead), seq 6 two days late, the others 5 s late. Raw holds seq 3 three
times, one copy with a different temperature.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from alerter.outputs import history_key
from cdk_app.analytics import DEVICES_KEY
from cdk_app.devices import parse_registry, registry_json_lines
from compactor.sql import MEASUREMENTS

A, B = "pi-a", "pi-b"
A_START = datetime(2025, 6, 30, 10, 58, tzinfo=UTC)
B_START = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def _reading(device: str, seq: int, ts: datetime, late_s: float, **values: Any) -> dict[str, Any]:
    return {
        "device_id": device,
        "seq": seq,
        "ts": ts,
        "arrival_ts": ts + timedelta(seconds=late_s),
        "temperature": values.get("temperature"),
        "humidity": values.get("humidity"),
        "pressure": values.get("pressure", 1000.0),
        "cpu_temp": values.get("cpu_temp"),
        "temperature_raw": None,
        "pitch": None,
        "roll": None,
        "yaw": None,
        "flags": values.get("flags"),
    }


def readings() -> list[dict[str, Any]]:
    """The readings as the compacted table holds them (one per (device_id, seq))."""
    rows = []
    seq = 1000
    for slot in range(30):
        if slot in (10, 11):
            continue  # not sampled: no seq used
        seq_now, seq = seq, seq + 1
        if slot == 20:
            continue  # sampled, then lost: its seq is never seen
        ts = A_START + timedelta(seconds=10 * slot)
        hour_10 = ts.hour == 10
        temperature = 20.0 if hour_10 else (45.0 if slot == 25 else 21.0)
        missing_cpu = slot == 3
        rows.append(
            _reading(
                A,
                seq_now,
                ts,
                120 if slot in (26, 27, 28) else 2,
                temperature=temperature,
                humidity=40.0 if hour_10 else 50.0,
                cpu_temp=None if missing_cpu else 35.0,
                flags=["cpu_temp_not_finite"] if missing_cpu else None,
            )
        )
    for seq in range(1, 7):
        late = {1: -1, 6: 2 * 86400}.get(seq, 5)
        rows.append(
            _reading(
                B,
                seq,
                B_START + timedelta(minutes=seq - 1),
                late,
                temperature=30.0,
                humidity=60.0,
                pressure=1300.0 if seq == 4 else 1000.0,
                cpu_temp=40.0,
                flags=["pressure_out_of_range"] if seq == 4 else None,
            )
        )
    return rows


COMPACTED_SCHEMA = pa.schema(
    [
        ("device_id", pa.string()),
        ("seq", pa.int64()),
        ("ts", pa.timestamp("us")),
        *[(name, pa.float64()) for name in MEASUREMENTS],
        ("flags", pa.list_(pa.string())),
        ("arrival_ts", pa.timestamp("us")),
        ("batch_id", pa.string()),
    ]
)


def compacted_objects(rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """Parquet files as the compactor writes them: compacted/dt=<reading date>/batch=<id>/."""
    by_date: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_date[row["ts"].strftime("%Y-%m-%d")].append(row)
    objects = {}
    for day, day_rows in by_date.items():
        batch = f"test-{day}"
        columns = {
            name: [
                (r[name].replace(tzinfo=None) if isinstance(r.get(name), datetime) else r.get(name))
                for r in day_rows
            ]
            for name in COMPACTED_SCHEMA.names
            if name != "batch_id"
        }
        columns["batch_id"] = [batch] * len(day_rows)
        sink = io.BytesIO()
        pq.write_table(pa.table(columns, schema=COMPACTED_SCHEMA), sink)
        objects[f"compacted/dt={day}/batch={batch}/{batch}_0.parquet"] = sink.getvalue()
    return objects


def _raw_line(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    line = {
        "schema": 1,
        **{k: v for k, v in row.items() if k not in ("ts", "arrival_ts") and v is not None},
        "ts": row["ts"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "thing_name": row["device_id"],
        "arrival_ms": int(row["arrival_ts"].timestamp() * 1000),
    }
    line.update(changes)
    return line


def raw_objects(rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """GZIP JSON lines under raw/dt=/hour=/ by arrival hour, with the re-deliveries."""
    lines = [(row["arrival_ts"], _raw_line(row)) for row in rows]
    again = [r for r in rows if (r["device_id"], r["seq"]) in {(A, 1005), (B, 3)}]
    redelivered = [(r["arrival_ts"] + timedelta(seconds=30), _raw_line(r)) for r in again]
    b3 = next(r for r in again if r["device_id"] == B)
    redelivered.append((b3["arrival_ts"] + timedelta(seconds=40), _raw_line(b3, temperature=31.5)))
    objects: dict[str, list[str]] = defaultdict(list)
    for number, group in enumerate((lines, redelivered)):
        for arrival, line in group:
            key = (
                f"raw/dt={arrival:%Y-%m-%d}/hour={arrival:%H}/"
                f"sensor-raw-1-{arrival:%Y-%m-%d-%H}-00-00-test-{number}.gz"
            )
            objects[key].append(json.dumps(line) + "\n")
    return {key: gzip.compress("".join(body).encode()) for key, body in objects.items()}


def _alert(
    device: str, metric: str, seq: int, ts: str, level: str, transition: str, value: float
) -> dict[str, Any]:
    return {
        "schema": 1,
        "alert_id": f"{device}:{metric}:{seq}",
        "device_id": device,
        "metric": metric,
        "level": level,
        "previous_level": "normal",
        "transition": transition,
        "side": "high",
        "value": value,
        "threshold": 60.0,
        "hysteresis": 1.0,
        "threshold_source": "context:*",
        "seq": seq,
        "ts": ts,
        "evaluated_at": ts,
        "levels": {metric: level},
        "device_level": level,
    }


ALERTS = [
    _alert("pi-a", "humidity", 3, "2025-06-30T10:58:30.000Z", "warning", "raised", 61.0),
    _alert("pi-a", "humidity", 5, "2025-06-30T10:59:10.000Z", "critical", "raised", 66.5),
    _alert("pi-a", "humidity", 7, "2025-06-30T10:59:50.000Z", "warning", "lowered", 63.0),
    _alert("pi-a", "humidity", 9, "2025-06-30T11:00:30.000Z", "normal", "recovered", 58.0),
    _alert("pi-a", "humidity", 12, "2025-06-30T11:01:30.000Z", "warning", "raised", 60.5),
    _alert("pi-b", "temperature", 2, "2025-07-01T08:01:00.000Z", "warning", "raised", 27.5),
]


def alert_objects() -> dict[str, bytes]:
    """The alert history as the alerter writes it: one object per alert (outputs.history_key)."""
    return {history_key("alerts/", alert): (json.dumps(alert) + "\n").encode() for alert in ALERTS}


# The device registry's rows (Glue table `devices`): pi-a and pi-b are two rooms on two floors of
# one building; pi-c is registered without a place.
REGISTRY = {
    "pi-a": {"site": "campus", "building": "north", "floor": "1", "room": "kitchen"},
    "pi-b": {"site": "campus", "building": "north", "floor": "2", "room": "lab", "sensor": "SHT31"},
    "pi-c": {},
}


def devices_objects(registry: dict[str, dict[str, str]] | None = None) -> dict[str, bytes]:
    """The registry's object, as the stack's custom resource writes it."""
    text = registry_json_lines(parse_registry(REGISTRY if registry is None else registry))
    return {DEVICES_KEY: text.encode()}
