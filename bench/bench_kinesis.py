"""The local Kinesis, side by side: moto's own Kinesis against kinesalite behind the moto
server's gateway (what the local cloud runs), as the stream grows.

For each stand-in, a 4-shard stream is filled with 500-record PutRecords of reading-sized
records (about 300 bytes); each time it holds one of the SIZES, the median of 20 PutRecords of
500 and of 20 GetRecords of up to 500 (from a shard iterator at the latest records) is printed.
moto stops at MOTO_MAX records: its PutRecords slows with the stream's length, so a million
would take hours.

    KINESIS <stand-in> records=<n> put500_ms=<median> get500_ms=<median>

BENCH_KINESIS_RECORDS (default 100000) is the largest size for kinesalite; the README's figures
were taken with 1000000.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.core.aws import CREDENTIALS  # noqa: E402
from localcloud.kinesis.kinesalite import KinesaliteServer  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402

LARGEST = int(os.environ.get("BENCH_KINESIS_RECORDS", "100000"))
SIZES = [size for size in (10_000, 100_000, 1_000_000) if size <= LARGEST]
MOTO_MAX = 50_000
STREAM = "bench"
RECORD = b'{"device_id":"sensehat-01","seq":123456,"ts":"2024-05-01T12:00:00.000Z"' + b" " * 220


@contextmanager
def moto_kinesis() -> Iterator[str]:
    with MotoServer() as moto:
        yield moto.endpoint


@contextmanager
def kinesalite_kinesis() -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory() as work,
        KinesaliteServer(path=Path(work) / "kinesis") as kinesalite,
        MotoServer(kinesis_upstream=kinesalite.endpoint) as moto,
    ):
        yield moto.endpoint


def put500(kinesis: object, start: int) -> float:
    records = [{"Data": RECORD, "PartitionKey": f"d{start + i}"} for i in range(500)]
    began = time.perf_counter()
    kinesis.put_records(StreamName=STREAM, Records=records)  # type: ignore[attr-defined]
    return (time.perf_counter() - began) * 1000


def get500(kinesis: object, shard: str) -> float:
    iterator = kinesis.get_shard_iterator(  # type: ignore[attr-defined]
        StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    began = time.perf_counter()
    kinesis.get_records(ShardIterator=iterator, Limit=500)  # type: ignore[attr-defined]
    return (time.perf_counter() - began) * 1000


def run(name: str, endpoint: str, sizes: list[int]) -> None:
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    kinesis.create_stream(StreamName=STREAM, ShardCount=4)
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
    shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    held = 0
    began = time.monotonic()
    for size in sizes:
        while held < size:
            put500(kinesis, held)
            held += 500
            if held % 50_000 == 0:
                rate = held / (time.monotonic() - began)
                print(f"  {name}: {held} records in the stream ({rate:.0f}/s)", flush=True)
        puts = [put500(kinesis, held + 500 * i) for i in range(20)]
        held += 20 * 500
        gets = [get500(kinesis, shard) for _ in range(20)]
        print(
            f"KINESIS {name} records={size} put500_ms={statistics.median(puts):.0f} "
            f"get500_ms={statistics.median(gets):.0f}",
            flush=True,
        )


def main() -> None:
    with kinesalite_kinesis() as endpoint:
        run("kinesalite", endpoint, SIZES)
    with moto_kinesis() as endpoint:
        run("moto", endpoint, [size for size in (10_000, MOTO_MAX) if size <= LARGEST])


if __name__ == "__main__":
    main()
