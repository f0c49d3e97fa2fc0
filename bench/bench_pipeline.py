"""End-to-end throughput and publish-to-raw latency of the local pipeline.

The stack is synthesized with the demo's context (`demo/run.py` DEMO_CONTEXT: 1 s
Firehose buffers, a one-minute compaction tail and schedule; everything else from cdk.json) and
brought up as the local cloud: mosquitto with mutual TLS, the topic rule engine, Kinesis and S3 in
moto, the Firehose workers with the validator Lambda, the compactor Lambda, the local Athena
endpoint and the emulated OpenSearch.

1. Throughput. The device publisher (`python -m device publish`, a subprocess, as in `make demo`)
   replays the Astro Pi log (24,604 readings) as fast as the broker acknowledges them. Every
   stage is timed from the first publish (the earliest `arrival_ms` the topic rule stamped):
   PUBACKs received (the publisher's spool), readings delivered to raw/ and to the search indices
   (the Firehose workers' counters, sampled every 0.1 s) and every reading in compacted Parquet
   (the last batch SUCCEEDED in the compactor's state table). The end-to-end figure includes the
   compaction tail: objects short of the threshold are compacted only once the oldest of them is
   `compactionMaxAgeMinutes` old (1 minute here); so the batches (full and tail), their time and
   each stage are printed too. Loss and duplicates are counted by (device_id, seq) in the
   compacted table through the Athena API, as `make demo` does.
2. Latency. The benchmark's own MQTT client (the device's transport, holding the thing's
   certificate from the local CA) publishes at a steady rate (50/s for 40 s), recording each
   reading's publish time by seq; a watcher lists raw/ every 50 ms, reads each new object and
   records when each reading was first readable there. Printed: p50, p95 and max of the
   difference, and how many readings were measured.

Usage: bench/bench_pipeline.py [--rows N] [--repeat K] [--latency-rate 50] [--latency-seconds 40]
`--repeat K` replays the log K times (later copies moved by whole days) for a bigger run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from bench._compaction_state import (  # noqa: E402
    BatchRecord,
    batch_records,
    compactor_env,
    counted_objects,
    mean,
    percentile,
    unfinished,
)
from demo.accounting import athena_query, compacted_tally, search_tally  # noqa: E402
from demo.run import (  # noqa: E402
    DEMO_CONTEXT,
    LOG,
    publisher_env,
    replay_file,
    synthesize,
    telemetry_topic,
)
from device.config import ASTRO_PI_COLUMNS, Credentials, MqttSettings  # noqa: E402
from device.reading import Sample, build_reading, encode  # noqa: E402
from device.sources.replay import ReplaySource  # noqa: E402
from device.spool import SpoolError  # noqa: E402
from device.status import status_report  # noqa: E402
from device.transport import LinkEvent, MqttLink  # noqa: E402
from localcloud.cloud import STACK, LocalCloud  # noqa: E402
from localcloud.firehose.resources import Firehose  # noqa: E402
from localcloud.iot.resources import IotCore  # noqa: E402

SAMPLE_INTERVAL = 0.1  # s between looks at the PUBACK and delivery counters
WATCH_INTERVAL = 0.05  # s between listings of raw/ in the latency run
TIMEOUT = 1800.0


def say(message: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# --- what the benchmark reads, found in the deployment -------------------------------------------


@dataclass(frozen=True)
class Names:
    bucket: str
    raw_prefix: str
    database: str
    table: str
    workgroup: str
    state_table: str
    threshold: int
    raw_stream: str
    search_stream: str
    index_pattern: str

    @classmethod
    def of(cls, cloud: LocalCloud) -> Names:
        deployment = cloud.deployment
        assert deployment is not None
        env = compactor_env(deployment)
        streams = deployment.runtime["AWS::KinesisFirehose::DeliveryStream"]
        raw = next(p for p in streams.values() if "ExtendedS3DestinationConfiguration" in p)
        search = next(
            p for p in streams.values() if "AmazonopensearchserviceDestinationConfiguration" in p
        )
        index = search["AmazonopensearchserviceDestinationConfiguration"]["IndexName"]
        return cls(
            bucket=env["DATA_BUCKET"],
            raw_prefix=env["RAW_PREFIX"],
            database=env["GLUE_DATABASE"],
            table=env["COMPACTED_TABLE"],
            workgroup=env["ATHENA_WORKGROUP"],
            state_table=env["STATE_TABLE"],
            threshold=int(env["COMPACTION_THRESHOLD"]),
            raw_stream=raw["DeliveryStreamName"],
            search_stream=search["DeliveryStreamName"],
            index_pattern=f"{index}-*",
        )


def raw_keys(names: Names) -> list[str]:
    s3 = boto3.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=names.bucket, Prefix=names.raw_prefix
    ):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def read_raw(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    return [json.loads(line) for line in body.splitlines() if line.strip()]


# --- the replay ---------------------------------------------------------------------------------


def replay_log(rows: int | None, repeat: int, directory: Path) -> tuple[Path, int]:
    """The log (or its first `rows` rows), `repeat` times; copies moved by whole days."""
    path, count = replay_file(rows, directory)
    if repeat == 1:
        return path, count
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        data = list(reader)
    column = header.index("time_stamp")
    stamp = "%Y-%m-%d %H:%M:%S"
    first = dt.datetime.strptime(data[0][column], stamp)
    last = dt.datetime.strptime(data[-1][column], stamp)
    span = dt.timedelta(days=(last.date() - first.date()).days + 1)
    target = directory / f"replay-x{repeat}.csv"
    with target.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(header)
        for copy in range(repeat):
            for row in data:
                moved = dt.datetime.strptime(row[column], stamp) + copy * span
                writer.writerow([*row[:column], moved.strftime(stamp), *row[column + 1 :]])
    return target, count * repeat


@dataclass
class Stages:
    """When (epoch s) each stage had handled every reading, sampled every SAMPLE_INTERVAL."""

    expected: int
    reached: dict[str, float] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)

    def done(self) -> bool:
        return len(self.reached) == 3


def sample_stages(
    cloud: LocalCloud, names: Names, spool: Path, stages: Stages, stop: threading.Event
) -> None:
    while not stop.wait(SAMPLE_INTERVAL) and not stages.done():
        now = time.time()
        try:
            pubacks = int(status_report(spool)["pubacks"])
        except SpoolError:
            pubacks = 0  # the publisher has not created its spool yet
        counts = {
            "puback": pubacks,
            "raw": sum(
                w.counters.records_delivered
                for w in cloud.service(Firehose).workers.values()
                if w.config.name == names.raw_stream
            ),
            "search": sum(
                w.counters.records_delivered
                for w in cloud.service(Firehose).workers.values()
                if w.config.name == names.search_stream
            ),
        }
        stages.last = counts
        for stage, count in counts.items():
            if count >= stages.expected and stage not in stages.reached:
                stages.reached[stage] = now


def compaction_finished(names: Names) -> bool:
    """Every raw object counted by the compactor, none pending, every batch finished."""
    objects = len(raw_keys(names))
    return (
        objects > 0
        and counted_objects(names.state_table) >= objects
        and unfinished(names.state_table) == 0
    )


@dataclass(frozen=True)
class Throughput:
    expected: int
    published: int
    first_publish: float  # epoch s
    stages: Stages
    batches: list[BatchRecord]
    per_batch: dict[str, int]  # readings per batch id in the compacted table
    raw_objects: int
    raw_unique: int
    raw_rows: int
    compacted_rows: int
    compacted_unique: int
    search_unique: int


def throughput_run(
    cloud: LocalCloud, names: Names, replay: Path, expected: int, work: Path
) -> Throughput:
    thing = cloud.service(IotCore).thing_names()[0]
    spool = work / "spool.db"
    stages = Stages(expected)
    stop = threading.Event()
    sampler = threading.Thread(target=sample_stages, args=(cloud, names, spool, stages, stop))
    sampler.start()
    say(f"replaying {expected} readings as {thing} through the device publisher")
    publisher = subprocess.Popen(
        [sys.executable, "-m", "device", "publish"],
        env=publisher_env(cloud, thing, replay, spool),
        cwd=ROOT,
        stdout=(work / "publisher.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + TIMEOUT
    shown = 0.0
    try:
        while time.monotonic() < deadline:
            code = publisher.poll()
            if code not in (None, 0):
                raise RuntimeError(f"the publisher failed ({code}); see {work / 'publisher.log'}")
            if code == 0 and stages.done() and compaction_finished(names):
                break
            time.sleep(1)
            if time.monotonic() - shown > 10:
                shown = time.monotonic()
                say(f"{stages.last} of {expected}; waiting for compaction")
        else:
            raise TimeoutError(f"the pipeline did not finish in {TIMEOUT:.0f}s: {stages.last}")
    finally:
        stop.set()
        sampler.join()
        if publisher.poll() is None:
            publisher.terminate()
            publisher.wait(timeout=30)
    published = int(status_report(spool)["pubacks"])

    s3 = boto3.client("s3")
    arrivals: dict[int, int] = {}
    raw_rows = 0
    keys = raw_keys(names)
    for key in keys:
        for reading in read_raw(s3, names.bucket, key):
            raw_rows += 1
            seq = int(reading["seq"])
            arrivals[seq] = min(arrivals.get(seq, reading["arrival_ms"]), reading["arrival_ms"])
    compacted = compacted_tally(names.database, names.table, names.workgroup)
    rows = athena_query(
        f"SELECT batch_id, count(*) FROM {names.table} GROUP BY batch_id",
        names.database,
        names.workgroup,
    )
    search = search_tally(cloud.env(), names.index_pattern)
    return Throughput(
        expected=expected,
        published=published,
        first_publish=min(arrivals.values()) / 1000,
        stages=stages,
        batches=batch_records(names.state_table),
        per_batch={row[0]: int(row[1]) for row in rows[1:]},
        raw_objects=len(keys),
        raw_unique=len(arrivals),
        raw_rows=raw_rows,
        compacted_rows=compacted.rows,
        compacted_unique=compacted.unique,
        search_unique=search.unique,
    )


def print_throughput(result: Throughput, names: Names, context: dict[str, Any]) -> None:
    n = result.published
    start = result.first_publish
    batches = result.batches
    finished = [b.finished_at.timestamp() for b in batches if b.finished_at]
    end = max(finished)
    full = [b for b in batches if b.reason == "threshold"]
    tail = [b for b in batches if b.reason != "threshold"]
    lost = max(n - result.compacted_unique, 0)
    print(
        f"pipeline_end_to_end: {n / (end - start):.0f} readings/s ({n} readings from the first "
        f"publish to the last in compacted Parquet in {end - start:.1f} s, compaction tail "
        "included)"
    )
    print(f"pipeline_lost: {lost} readings (published {n}, compacted {result.compacted_unique})")
    print(
        f"pipeline_duplicates: {result.compacted_rows - result.compacted_unique} rows "
        f"(compacted table; raw/ holds {result.raw_rows - result.raw_unique} repeated lines, "
        f"search {result.search_unique} distinct readings)"
    )
    for stage, label, note in (
        ("puback", "publish_rate", "PUBACKs received; QoS 1, one connection, spool sync FULL"),
        ("raw", "raw_delivery_rate", "to S3 raw/ through the validator"),
        ("search", "search_delivery_rate", "to the emulated OpenSearch through the validator"),
    ):
        elapsed = result.stages.reached[stage] - start
        print(f"{label}: {n / elapsed:.0f} readings/s ({note}; all {n} in {elapsed:.1f} s)")
    print(
        f"raw_objects: {result.raw_objects} (GZIP JSON lines, rawBufferSeconds="
        f"{context['rawBufferSeconds']}; compaction threshold {names.threshold})"
    )
    if full:
        full_end = max(b.finished_at.timestamp() for b in full if b.finished_at)
        in_full = sum(result.per_batch.get(b.batch_id, 0) for b in full)
        print(
            f"compacted_full_batches_rate: {in_full / (full_end - start):.0f} readings/s "
            f"({in_full} readings in {len(full)} batches of {full[0].objects} objects, in "
            f"Parquet {full_end - start:.1f} s after the first publish)"
        )
    seconds = [b.seconds or 0.0 for b in batches]
    print(
        f"compaction_time_per_batch: {mean(seconds):.1f} s mean, {max(seconds):.1f} s max "
        f"({len(batches)} batches: {len(full)} of the threshold, {len(tail)} tail; claim to "
        "SUCCEEDED)"
    )
    if tail:
        raw_done = result.stages.reached["raw"]
        claimed = max(b.claimed_at.timestamp() for b in tail)
        wait = max(claimed - raw_done, 0.0)
        print(
            f"compaction_tail_wait: {wait:.1f} s from the last raw object to the last tail "
            f"batch's claim (a tail batch is claimed once its oldest object is "
            f"compactionMaxAgeMinutes={context['compactionMaxAgeMinutes']} old, checked on each "
            f"S3 event and every {context['compactionScheduleMinutes']} min)"
        )
        print(
            f"pipeline_end_to_end_without_tail_wait: {n / (end - start - wait):.0f} readings/s "
            f"({end - start - wait:.1f} s)"
        )


# --- latency --------------------------------------------------------------------------------------


@dataclass
class Watch:
    base: int  # first seq of the latency run
    seen: dict[int, float] = field(default_factory=dict)  # seq -> epoch s first readable
    listings: int = 0


def watch_raw(names: Names, watch: Watch, known: set[str], stop: threading.Event) -> None:
    s3 = boto3.client("s3")
    while not stop.is_set():
        keys = raw_keys(names)
        listed = time.time()
        watch.listings += 1
        for key in keys:
            if key in known:
                continue
            known.add(key)
            for reading in read_raw(s3, names.bucket, key):
                seq = int(reading["seq"])
                if seq >= watch.base and seq not in watch.seen:
                    watch.seen[seq] = listed
        stop.wait(WATCH_INTERVAL)


def latency_run(
    cloud: LocalCloud, names: Names, spool: Path, rate: float, seconds: float
) -> tuple[dict[int, float], Watch]:
    thing = cloud.service(IotCore).thing_names()[0]
    base = int(status_report(spool)["next_seq"].get(thing, 0))  # the device's next seq
    issued = cloud.service(IotCore).credentials(thing)
    endpoints = cloud.env()
    settings = replace(
        MqttSettings(),
        endpoint=endpoints["MQTT_HOST"],
        port=int(endpoints["MQTT_PORT"]),
        topic=telemetry_topic(cloud),  # the stack's Basic Ingest topic, as the device uses
    )
    credentials = Credentials(issued.certificate, issued.private_key, issued.ca)

    def on_event(event: LinkEvent) -> None:
        if event.refused or event.fatal:
            say(f"MQTT: {event.kind.value} {event.detail}")

    link = MqttLink(thing, settings, credentials, on_event)
    link.start()
    if not link.wait_connected(30):
        raise RuntimeError("the latency client could not connect")
    samples = [
        s for s in ReplaySource(LOG, ASTRO_PI_COLUMNS, thing).items() if isinstance(s, Sample)
    ]
    watch = Watch(base)
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_raw, args=(names, watch, set(raw_keys(names)), stop), daemon=True
    )
    watcher.start()
    count = int(rate * seconds)
    sent: dict[int, float] = {}
    futures: list[concurrent.futures.Future[Any]] = []
    say(f"latency: {count} readings at {rate:.0f}/s")
    began = time.monotonic()
    try:
        for number in range(count):
            pause = began + number / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            seq = base + number
            sample = replace(samples[number % len(samples)], ts=dt.datetime.now(dt.UTC))
            payload = encode(build_reading(sample, thing, seq))
            sent[seq] = time.time()
            futures.append(link.publish(payload))
        for future in futures:
            future.result(timeout=60)
        deadline = time.monotonic() + 60
        while len(watch.seen) < count and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        watcher.join(timeout=30)
        link.stop()
    return sent, watch


def print_latency(sent: dict[int, float], watch: Watch, rate: float, buffer_s: int) -> None:
    latencies = [(watch.seen[seq] - at) * 1000 for seq, at in sent.items() if seq in watch.seen]
    if not latencies:
        raise RuntimeError("no reading of the latency run reached raw/")
    print(
        f"publish_to_raw_p50: {percentile(latencies, 0.5):.0f} ms (Firehose buffer {buffer_s} s, "
        f"{rate:.0f} readings/s steady, raw/ listed every {WATCH_INTERVAL * 1000:.0f} ms)"
    )
    print(f"publish_to_raw_p95: {percentile(latencies, 0.95):.0f} ms")
    print(f"publish_to_raw_max: {max(latencies):.0f} ms")
    print(f"publish_to_raw_measured: {len(latencies)} of {len(sent)} readings")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="replay only the first N rows")
    parser.add_argument("--repeat", type=int, default=1, help="replay the log K times")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="readings per second")
    parser.add_argument("--latency-seconds", type=float, default=40.0)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        cdk_out = work / "cdk.out"
        say(f"synthesizing with {DEMO_CONTEXT}")
        synthesize(cdk_out, DEMO_CONTEXT)
        cloud = LocalCloud(work / "cloud", cdk_out, STACK, log=lambda _: None)
        try:
            cloud.start()
            names = Names.of(cloud)
            replay, expected = replay_log(args.rows, args.repeat, work)
            result = throughput_run(cloud, names, replay, expected, work)
            print_throughput(result, names, DEMO_CONTEXT)
            sent, watch = latency_run(
                cloud, names, work / "spool.db", args.latency_rate, args.latency_seconds
            )
            print_latency(sent, watch, args.latency_rate, DEMO_CONTEXT["rawBufferSeconds"])
        finally:
            cloud.stop()
    print(
        f"machine: {os.cpu_count()} cores shared with other work; the whole local cloud, the "
        f"publisher and this script on it; {time.monotonic() - began:.0f} s in all"
    )


if __name__ == "__main__":
    main()
