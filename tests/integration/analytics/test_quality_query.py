"""athena/quality_hourly.sql on the local Athena endpoint: the lake of analytics_lake.py plus a
device, pi-c, whose faults are the ones the compacted table keeps and no other query shows.

pi-c reads every 10 s from 2025-07-02 09:59:30Z, seq 1-13 (hour 09: seq 1-3, all good):
seq 8 repeats the ts of seq 7 under a new seq; seq 9's ts (10:00:15) is earlier than seq 8's (it
goes backwards against seq); seq 11 is flagged `humidity_out_of_range`; raw/ holds seq 12 twice;
10:01:10 was never sent. Worked out by hand, hour 10: interval 10 s (median of the steps 10, 5,
5, 10, 10, 10, 10, 20 between distinct ts), publishing from 10:00:00 to 10:01:30 (last reading
plus an interval): 9 expected; 10 received; good: seq 4, 5, 6, 7, 10, 13, so 6 / 9 = 0.667.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from analytics_lake import compacted_objects

from compactor.athena import AthenaQueries
from compactor.quality import QUALITY_COLUMNS, HourlyQuality
from compactor.waiting import Deadline

pytestmark = pytest.mark.integration

C = "pi-c"
C_START = datetime(2025, 7, 2, 9, 59, 30, tzinfo=UTC)
C_OFFSETS = {  # seq -> seconds after C_START
    1: 0,
    2: 10,
    3: 20,
    4: 30,
    5: 40,
    6: 50,
    7: 60,
    8: 60,  # the same ts again, a new seq
    9: 45,  # backwards
    10: 70,
    11: 80,
    12: 90,
    13: 110,  # 100 was never sent
}


def pi_c() -> list[dict]:
    rows = []
    for seq, offset in C_OFFSETS.items():
        ts = C_START + timedelta(seconds=offset)
        rows.append(
            {
                "device_id": C,
                "seq": seq,
                "ts": ts,
                "arrival_ts": ts + timedelta(seconds=2),
                "temperature": 21.0,
                "humidity": 40.0,
                "pressure": None,  # a room sensor without a barometer
                "cpu_temp": None,
                "temperature_raw": None,
                "pitch": None,
                "roll": None,
                "yaw": None,
                "flags": ["humidity_out_of_range"] if seq == 11 else None,
            }
        )
    return rows


def raw_lines(rows: list[dict]) -> bytes:
    lines = []
    for row in [*rows, next(r for r in rows if r["seq"] == 12)]:
        line = {
            "schema": 1,
            **{k: v for k, v in row.items() if k not in ("ts", "arrival_ts") and v is not None},
            "ts": row["ts"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "thing_name": C,
            "arrival_ms": int(row["arrival_ts"].timestamp() * 1000),
        }
        lines.append(json.dumps(line) + "\n")
    return gzip.compress("".join(lines).encode())


@pytest.fixture(scope="module")
def quality(lake):
    s3 = boto3.client("s3")
    rows = pi_c()
    for key, body in compacted_objects(rows).items():
        s3.put_object(Bucket=lake.bucket, Key=key, Body=body)
    s3.put_object(
        Bucket=lake.bucket,
        Key="raw/dt=2025-07-02/hour=10/sensor-raw-1-2025-07-02-10-00-00-test-c.gz",
        Body=raw_lines(rows),
    )
    found = lake.query(lake.named_queries()["quality_hourly"])
    keyed = {(r["device_id"], r["hour_start"][:13]): r for r in found}
    assert len(keyed) == len(found), "a device and hour twice"
    return keyed


# The measured columns of quality_hourly.sql's result (all but the device and hour keys).
COLUMNS = tuple(c for c in QUALITY_COLUMNS if c not in {"device_id", "hour_start"})


@pytest.mark.parametrize(
    ("device", "hour", "expected"),
    [
        # pi-c: the repeated ts, the backwards ts, the flag and the copy each cost a reading.
        (C, "2025-07-02 09", ("10.0", "3", "3", "0", "0", "0", "0", "3", "1.0")),
        (C, "2025-07-02 10", ("10.0", "9", "10", "1", "1", "1", "1", "6", "0.667")),
        # pi-a: slots 10 and 11 not sampled, seq 1005 twice in raw/, slot 3's cpu_temp not
        # finite; hour 11: slot 20 lost.
        ("pi-a", "2025-06-30 10", ("10.0", "12", "10", "1", "0", "1", "0", "8", "0.667")),
        ("pi-a", "2025-06-30 11", ("10.0", "18", "17", "0", "0", "0", "0", "17", "0.944")),
        # pi-b: one reading a minute; seq 3 three times in raw/, seq 4 flagged out of range.
        ("pi-b", "2025-07-01 08", ("60.0", "6", "6", "2", "0", "1", "0", "4", "0.667")),
    ],
)
def test_quality_per_device_and_hour(quality, device, hour, expected):
    row = quality[(device, hour)]
    assert tuple(row[column] for column in COLUMNS) == expected, row


def test_every_device_hour_is_there_once(quality):
    assert set(quality) == {
        (C, "2025-07-02 09"),
        (C, "2025-07-02 10"),
        ("pi-a", "2025-06-30 10"),
        ("pi-a", "2025-06-30 11"),
        ("pi-b", "2025-07-01 08"),
    }


def test_the_compactor_s_hourly_job_scores_the_hour_from_its_partitions_alone(lake, quality):
    """The named query, scoped to the hour's partitions by the compactor, as the schedule tick
    after the settle time runs it; the scores equal the whole query's for that hour."""
    athena = boto3.client("athena")
    ids = athena.list_named_queries(WorkGroup=lake.workgroup)["NamedQueryIds"]
    named = {athena.get_named_query(NamedQueryId=i)["NamedQuery"]["Name"]: i for i in ids}
    settle, interval = timedelta(minutes=71), timedelta(minutes=5)
    job = HourlyQuality(
        athena=athena,
        engine=AthenaQueries(athena, lake.workgroup, lake.database),
        named_query_id=named["quality_hourly"],
        database=lake.database,
        raw_table="raw_readings",
        compacted_table="readings",
        settle=settle,
        interval=interval,
    )
    hour = datetime(2025, 7, 2, 10, tzinfo=UTC)
    tick = hour + timedelta(hours=1) + settle
    scores = job.scores(tick, Deadline(lambda: 60_000))
    assert [(s.device_id, s.hour, s.score, s.good, s.expected) for s in scores] == [
        (C, hour, 0.667, 6, 9)
    ]
    assert float(quality[(C, "2025-07-02 10")]["quality_score"]) == 0.667
    assert job.scores(tick + interval, Deadline(lambda: 60_000)) == []  # not due again
