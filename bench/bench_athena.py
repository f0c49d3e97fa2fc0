"""Local Athena: query latency over the raw table, a compaction CTAS, and result paging.

Writes OBJECTS GZIP JSON-lines objects of READINGS_PER_OBJECT readings into the raw table's
layout (CONTRACTS.md: projection on dt and hour) in moto, then, through boto3 against the local
Athena endpoint (start, poll, page), times: a full-table aggregate (first with an empty object
cache, then warm), a query pruned to one hour, a query pruned to 20 objects by
`"$path" IN (...)`, a compaction-style CTAS of 20 objects to Parquet, and reading every row back
through GetQueryResults. Prints one line per figure (the median of RUNS runs unless marked cold,
wall-clock from StartQueryExecution to the end of polling).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.athena.server import AthenaServer  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402

OBJECTS = int(os.environ.get("BENCH_ATHENA_OBJECTS", "240"))
READINGS_PER_OBJECT = int(os.environ.get("BENCH_ATHENA_READINGS_PER_OBJECT", "100"))
RUNS = int(os.environ.get("BENCH_ATHENA_RUNS", "3"))
BUCKET = "bench-data"
RESULTS = "bench-results"
DATABASE = "bench"
COLUMNS = [
    ("schema", "int"),
    ("device_id", "string"),
    ("seq", "bigint"),
    ("ts", "string"),
    ("temperature", "double"),
    ("humidity", "double"),
    ("pressure", "double"),
    ("flags", "array<string>"),
    ("thing_name", "string"),
    ("arrival_ms", "bigint"),
]


def create_raw_table(glue: Any) -> None:
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "raw",
            "Parameters": {
                "projection.enabled": "true",
                "projection.dt.type": "date",
                "projection.dt.range": "2024-01-01,NOW",
                "projection.dt.format": "yyyy-MM-dd",
                "projection.hour.type": "integer",
                "projection.hour.range": "0,23",
                "projection.hour.digits": "2",
                "storage.location.template": f"s3://{BUCKET}/raw/dt=${{dt}}/hour=${{hour}}/",
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "int"}],
            "StorageDescriptor": {
                "Columns": [{"Name": name, "Type": type_} for name, type_ in COLUMNS],
                "Location": f"s3://{BUCKET}/raw/",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        },
    )


def fill(s3: Any) -> list[str]:
    """OBJECTS objects spread over days and hours; their s3:// URIs."""
    uris = []
    seq = 0
    for number in range(OBJECTS):
        day = 1 + number // 24 // 10
        hour = number // 10 % 24
        lines = []
        for i in range(READINGS_PER_OBJECT):
            reading = {
                "schema": 1,
                "device_id": "sensehat-01",
                "seq": seq,
                "ts": f"2024-03-{day:02d}T{hour:02d}:{i % 60:02d}:00.000Z",
                "temperature": 20.0 + i % 50 / 10,
                "humidity": 40.0,
                "pressure": 1010.0,
                "flags": [],
                "thing_name": "sensehat-01",
                "arrival_ms": 1709251200000 + seq,
            }
            lines.append(json.dumps(reading) + "\n")
            seq += 1
        key = f"raw/dt=2024-03-{day:02d}/hour={hour:02d}/bench-{number:05d}.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress("".join(lines).encode()))
        uris.append(f"s3://{BUCKET}/{key}")
    return uris


def run(athena: Any, sql: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/"},
    )["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if execution["Status"]["State"] != "SUCCEEDED":
        raise SystemExit(f"query failed: {execution['Status']}")
    return elapsed, execution


def median_ms(athena: Any, sql_for_run: Any) -> tuple[float, dict[str, Any]]:
    timings = []
    execution: dict[str, Any] = {}
    for attempt in range(RUNS):
        elapsed, execution = run(athena, sql_for_run(attempt))
        timings.append(elapsed * 1000)
    return statistics.median(timings), execution


def main() -> None:
    with MotoServer() as moto:
        os.environ.update(moto.env())
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=RESULTS)
        create_raw_table(boto3.client("glue"))
        uris = fill(s3)
        total = OBJECTS * READINGS_PER_OBJECT
        with AthenaServer() as server:
            athena = boto3.client("athena", endpoint_url=server.endpoint)
            full_scan = "SELECT count(*), avg(temperature) FROM raw"
            cold, execution = run(athena, full_scan)
            print(
                f"athena_full_scan_cold_ms={cold * 1000:.0f} "
                f"(downloads every object; scanned {execution['Statistics']['DataScannedInBytes']} "
                "bytes)"
            )
            figures = [
                ("full_scan_warm", lambda _: full_scan),
                (
                    "one_hour",
                    lambda _: "SELECT count(*) FROM raw WHERE dt = '2024-03-01' AND hour = 5",
                ),
                (
                    "path_in_20",
                    lambda _: (
                        'SELECT count(*) FROM raw WHERE "$path" IN ('
                        + ", ".join(f"'{uri}'" for uri in uris[:20])
                        + ")"
                    ),
                ),
                (
                    "ctas_20_objects",
                    lambda attempt: (
                        f"CREATE TABLE c{attempt} WITH (format = 'PARQUET', "
                        f"write_compression = 'ZSTD', external_location = "
                        f"'s3://{BUCKET}/compacted/run={attempt}/') AS SELECT device_id, seq, "
                        "CAST(from_iso8601_timestamp(ts) AS timestamp) AS ts, temperature "
                        'FROM raw WHERE "$path" IN ('
                        + ", ".join(f"'{uri}'" for uri in uris[20:40])
                        + ")"
                    ),
                ),
            ]
            for name, sql in figures:
                millis, execution = median_ms(athena, sql)
                scanned = execution["Statistics"]["DataScannedInBytes"]
                print(f"athena_{name}_ms={millis:.0f} (scanned {scanned} bytes)")
            _, execution = run(athena, "SELECT seq, ts, temperature FROM raw")
            started = time.perf_counter()
            paginator = athena.get_paginator("get_query_results")
            rows = sum(
                len(page["ResultSet"]["Rows"])
                for page in paginator.paginate(QueryExecutionId=execution["QueryExecutionId"])
            )
            elapsed = time.perf_counter() - started
            print(
                f"athena_get_query_results_rows_per_s={(rows - 1) / elapsed:.0f} ({rows - 1} rows)"
            )
        print(f"athena_bench_table={OBJECTS} objects, {total} readings (moto S3, GZIP JSON lines)")


if __name__ == "__main__":
    main()
