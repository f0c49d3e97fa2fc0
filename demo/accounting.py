"""Accounting for every reading: where each (device_id, seq) is, and how many times.

Counts readings in the raw objects (S3, GZIP JSON lines), in the compacted table (through the
Athena API, as a user would query it) and in the search indices (emulated OpenSearch), and the
rejected ones under `errors/invalid/`. Used by `make demo`'s SUMMARY line and the end-to-end tests.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from localcloud.opensearch.access import basic_auth

Key = tuple[str, int]


@dataclass(frozen=True)
class Tally:
    """Readings found somewhere: how many rows, how many distinct (device_id, seq)."""

    rows: int
    unique: int

    @property
    def duplicates(self) -> int:
        return self.rows - self.unique


def raw_readings(bucket: str, prefix: str = "raw/") -> Counter[Key]:
    """Every reading line in the raw objects, counted per (device_id, seq)."""
    return Counter((r["device_id"], int(r["seq"])) for r in json_lines(bucket, prefix))


def json_lines(bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every JSON line of the objects below `prefix` (GZIP when the key ends in .gz)."""
    for _modified, line in json_lines_with_time(bucket, prefix):
        yield line


def json_lines_with_time(bucket: str, prefix: str) -> Iterator[tuple[dt.datetime, dict[str, Any]]]:
    """Every JSON line of the objects below `prefix`, with its object's LastModified."""
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if item["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            for line in body.splitlines():
                if line.strip():
                    yield item["LastModified"], json.loads(line)


def count_objects(bucket: str, prefix: str) -> int:
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(len(page.get("Contents", [])) for page in pages)


def invalid_records(bucket: str, prefix: str = "errors/invalid/") -> list[dict[str, Any]]:
    """The validator's rejected records, each with its reason."""
    s3 = boto3.client("s3")
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found += [json.loads(line) for line in body.splitlines() if line.strip()]
    return found


def athena_query(sql: str, database: str, workgroup: str, timeout: float = 300) -> list[list[str]]:
    """Run a query through the Athena API and return its rows (header first)."""
    athena = boto3.client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        WorkGroup=workgroup,
    )["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"query {status['State']}: {status.get('StateChangeReason')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"query {query_id} still {status['State']} after {timeout}s")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    rows: list[list[str]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        rows += [[c.get("VarCharValue", "") for c in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return rows


def compacted_tally(database: str, table: str, workgroup: str) -> Tally:
    rows = athena_query(
        f"SELECT count(*), count(DISTINCT concat(device_id, '#', CAST(seq AS varchar))) "
        f"FROM {table}",
        database,
        workgroup,
    )
    total, unique = rows[1]
    return Tally(rows=int(total), unique=int(unique))


def search_tally(env: Mapping[str, str], index_pattern: str) -> Tally:
    """Documents in the rotated indices, and distinct (device_id, seq) among them, asked as the
    master user the local cloud published in `env` (`OPENSEARCH_URL`, `OPENSEARCH_USER`...)."""
    query = {
        "size": 0,
        "aggs": {
            "devices": {
                "terms": {"field": "device_id", "size": 10_000},
                "aggs": {
                    "readings": {"cardinality": {"field": "seq", "precision_threshold": 40_000}}
                },
            }
        },
    }
    body = _post_json(f"{env['OPENSEARCH_URL']}/{index_pattern}/_search", query, basic_auth(env))
    buckets = body["aggregations"]["devices"]["buckets"]
    rows = sum(int(b["doc_count"]) for b in buckets)
    unique = sum(int(b["readings"]["value"]) for b in buckets)
    return Tally(rows=rows, unique=unique)


def _post_json(url: str, body: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - local emulated endpoint
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.loads(response.read()))
