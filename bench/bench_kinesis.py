"""The local Kinesis, side by side: moto's own Kinesis against kinesalite behind the moto
server's gateway (what the local cloud runs), as the stream grows.

For each stand-in, two 4-shard streams: `small`, filled to 10,000 reading-sized records (about
300 bytes), and `large`, filled with 500-record PutRecords up to each of the SIZES. At each size,
ROUNDS rounds alternate between the two streams: a PutRecords of 500, then a GetRecords of up to
500 from where a consumer that keeps up reads (AT_SEQUENCE_NUMBER of the round's own put, as the
Firehose workers and Lambda pollers read after their checkpoint). The medians for each stream
and their ratio (large / small) are printed. Alternating keeps a shared machine's changing load
out of the ratio: both streams are measured in the same seconds.

    KINESIS <stand-in> records=<n> put500_ms=<large> get500_ms=<large> small_put500_ms=<small>
        small_get500_ms=<small> put_ratio=<large/small> get_ratio=<large/small>

moto stops at MOTO_MAX records: its PutRecords slows with the stream's length, so a million
would take hours. BENCH_KINESIS_RECORDS (default 100000) is the largest size for kinesalite;
the README's figures were taken with 1000000.
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
SMALL = 10_000  # the stream every size is compared with
ROUNDS = 30
MOTO_MAX = 50_000
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


def put500(kinesis: object, stream: str, start: int) -> tuple[float, dict[str, str]]:
    """Milliseconds of one PutRecords of 500, and the first record's shard and sequence number."""
    records = [{"Data": RECORD, "PartitionKey": f"d{start + i}"} for i in range(500)]
    began = time.perf_counter()
    answer = kinesis.put_records(StreamName=stream, Records=records)  # type: ignore[attr-defined]
    elapsed = (time.perf_counter() - began) * 1000
    return elapsed, answer["Records"][0]


def get500(kinesis: object, stream: str, at: dict[str, str]) -> float:
    """Milliseconds of one GetRecords of up to 500 from the record `at`."""
    iterator = kinesis.get_shard_iterator(  # type: ignore[attr-defined]
        StreamName=stream,
        ShardId=at["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=at["SequenceNumber"],
    )["ShardIterator"]
    began = time.perf_counter()
    kinesis.get_records(ShardIterator=iterator, Limit=500)  # type: ignore[attr-defined]
    return (time.perf_counter() - began) * 1000


class Stream:
    """One bench stream and how many records it holds."""

    def __init__(self, kinesis: object, name: str) -> None:
        self.kinesis = kinesis
        self.name = name
        self.held = 0
        kinesis.create_stream(StreamName=name, ShardCount=4)  # type: ignore[attr-defined]
        kinesis.get_waiter("stream_exists").wait(StreamName=name)  # type: ignore[attr-defined]

    def fill(self, size: int, say: str) -> None:
        began, start = time.monotonic(), self.held
        while self.held < size:
            self.put()
            if self.held % 50_000 == 0:
                rate = (self.held - start) / (time.monotonic() - began)
                print(f"  {say}: {self.held} records in the stream ({rate:.0f}/s)", flush=True)

    def put(self) -> tuple[float, dict[str, str]]:
        measured = put500(self.kinesis, self.name, self.held)
        self.held += 500
        return measured

    def round(self) -> tuple[float, float]:
        """One measured PutRecords, then one GetRecords of what it wrote."""
        put_ms, first = self.put()
        return put_ms, get500(self.kinesis, self.name, first)


def run(name: str, endpoint: str, sizes: list[int]) -> None:
    kinesis = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name=CREDENTIALS["AWS_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    small, large = Stream(kinesis, "small"), Stream(kinesis, "large")
    small.fill(SMALL, f"{name} small")
    for size in sizes:
        large.fill(size, name)
        rounds = [(small.round(), large.round()) for _ in range(ROUNDS)]
        small_put = statistics.median(s[0] for s, _ in rounds)
        small_get = statistics.median(s[1] for s, _ in rounds)
        large_put = statistics.median(big[0] for _, big in rounds)
        large_get = statistics.median(big[1] for _, big in rounds)
        print(
            f"KINESIS {name} records={size} put500_ms={large_put:.0f} get500_ms={large_get:.0f} "
            f"small_put500_ms={small_put:.0f} small_get500_ms={small_get:.0f} "
            f"put_ratio={large_put / small_put:.2f} get_ratio={large_get / small_get:.2f}",
            flush=True,
        )


def main() -> None:
    with kinesalite_kinesis() as endpoint:
        run("kinesalite", endpoint, SIZES)
    with moto_kinesis() as endpoint:
        run("moto", endpoint, [size for size in (10_000, MOTO_MAX) if size <= LARGEST])


if __name__ == "__main__":
    main()
