"""Compaction at fleet sizes: bytes scanned per batch, batches per hour, whether it keeps up.

The stack's template (`cdk synth`, cdk.json as it is) is deployed onto moto and the local Athena
endpoint by the local deployer, exactly as in bench_compaction.py; the real compactor Lambda runs
in the local Lambda runtime, invoked by the data bucket's S3 notifications.

For each fleet size (10, 1,000 and 10,000 devices, one reading a second each) the raw objects are
the ones the raw delivery stream would write: readings (the Astro Pi log's values, a device's
`ts` spread over the second, arrival 0.2-3 s later) in arrival order, cut into an object when the
template's buffer size (`rawBufferMiB`) is reached or its interval (`rawBufferSeconds`) has passed
since the object's first record, GZIP JSON lines under `raw/dt=/hour=/` by arrival. Two probes per
fleet size, on one day of its own: PROBE_BATCHES x threshold objects from 00:00 and as many from
20:00 (after the morning's batches are in the compacted table). Each probe's objects are written
at once (a backlog), and the compactor compacts them batch by batch.

Per batch, from the Athena API: the discover query's bytes (the batch's own raw objects) and the
CTAS's bytes; the CTAS reads the batch's raw objects again plus the compacted files of the batches
whose seconds meet its own, so CTAS - discover is what the de-duplication reads. The first batch of
a probe has no batch before it; the steady-state figures are those of the later batches.

Printed per fleet size: readings and bytes per batch, bytes scanned per batch and per reading
(morning and evening), the de-duplication's share, the batches per hour the fleet produces, the
batches per hour this machine's compactor sustained on the backlog (first object written to last
batch SUCCEEDED), and whether it keeps up. Then the 10x-to-1x ratios: at 1,000 and 10,000 devices
both fleets fill the buffer (objects of `rawBufferMiB`), so a batch has the same input size and
the ratio compares equal batches; 10 devices fill objects by time, smaller ones.

Bytes scanned are the local Athena's Statistics.DataScannedInBytes: the bytes of the S3 objects a
query read after partition and "$path" pruning (all columns; Athena on AWS reads only the Parquet
columns a query needs). Times are this machine's (2 shared cores, DuckDB for Athena), not AWS's.

Usage: bench/bench_compaction_fleet.py [--devices 10 1000 10000] [--probe-batches 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas" / "compactor"), str(ROOT / "lambdas" / "validator")]

import boto3  # noqa: E402

from bench._compaction_state import batch_records, mean, query_figures  # noqa: E402
from bench.bench_compaction import AstroPiLog, Stack, deploy, say, wait_compacted  # noqa: E402
from device.reading import build_reading  # noqa: E402
from localcloud.firehose.naming import object_suffix  # noqa: E402

RATE_HZ = 1.0
LATENCY_MS = (200, 3000)  # device -> topic rule -> Firehose, per reading
FIRST_DAY = date(2026, 3, 2)
MORNING, EVENING = 10, 20 * 3600  # seconds of the day the probes start


@dataclass(frozen=True)
class RawObject:
    key: str
    body: bytes
    lines: int
    raw_bytes: int  # before GZIP: what Firehose's buffer size counts
    first_ms: int  # arrival of its first record


class Readings:
    """Schema-1 readings with the Astro Pi log's values, as JSON lines the validator writes."""

    def __init__(self, thing: str) -> None:
        log = AstroPiLog(thing)
        samples = log.days[0]
        self.documents = [build_reading(s, thing, 0) for s in samples]

    def line(self, device: int, seq: int, ts_ms: int, arrival_ms: int) -> bytes:
        document = dict(self.documents[(device * 7919 + seq) % len(self.documents)])
        name = f"fleet-{device:05d}"
        document["device_id"] = name
        document["seq"] = seq
        document["ts"] = iso_ms(ts_ms)
        document["thing_name"] = name
        document["arrival_ms"] = arrival_ms
        return (json.dumps(document, separators=(",", ":")) + "\n").encode()


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def arrivals(
    readings: Readings, devices: int, start_ms: int, rng: random.Random
) -> Iterator[tuple[int, bytes]]:
    """(arrival ms, line) of every reading from `start_ms` on, in arrival order, endless."""
    pending: list[tuple[int, bytes]] = []
    period_ms = int(1000 / RATE_HZ)
    second = 0
    while True:
        base = start_ms + second * period_ms
        for device in range(devices):
            ts = base + device * period_ms // devices
            arrival = ts + rng.randint(*LATENCY_MS)
            seq = second
            pending.append((arrival, readings.line(device, seq, ts, arrival)))
        second += 1
        pending.sort(key=lambda item: item[0])
        # Later seconds' readings arrive after this bound: everything before it is final.
        bound = start_ms + second * period_ms + LATENCY_MS[0]
        cut = next((i for i, item in enumerate(pending) if item[0] >= bound), len(pending))
        yield from pending[:cut]
        del pending[:cut]


def firehose_objects(
    stack: Stack, lines: Iterator[tuple[int, bytes]], count: int, buffer_bytes: int, buffer_s: int
) -> list[RawObject]:
    """The first `count` objects the raw delivery stream writes of these arrivals."""
    objects: list[RawObject] = []
    chunk: list[bytes] = []
    size = 0
    first = 0
    for arrival, line in lines:
        if chunk and arrival - first >= buffer_s * 1000:
            objects.append(raw_object(stack, chunk, size, first))
            chunk, size = [], 0
            if len(objects) == count:
                break
        if not chunk:
            first = arrival
        chunk.append(line)
        size += len(line)
        if size >= buffer_bytes:
            objects.append(raw_object(stack, chunk, size, first))
            chunk, size = [], 0
            if len(objects) == count:
                break
    return objects


def raw_object(stack: Stack, chunk: list[bytes], size: int, first_ms: int) -> RawObject:
    moment = datetime.fromtimestamp(first_ms / 1000, UTC).astimezone(stack.raw_target.time_zone)
    key = stack.raw_target.prefixes.data_prefix(moment) + object_suffix(
        stack.raw_stream, 1, moment, stack.raw_target.extension
    )
    body = gzip.compress(b"".join(chunk), compresslevel=6)
    return RawObject(key, body, len(chunk), size, first_ms)


@dataclass(frozen=True)
class BatchFigures:
    discover: int
    ctas: int
    readings: float

    @property
    def dedup(self) -> int:
        return self.ctas - self.discover


@dataclass(frozen=True)
class Probe:
    batches: list[BatchFigures]  # in claim order
    seconds: float  # first object written to last batch SUCCEEDED
    objects: list[RawObject]

    @property
    def steady(self) -> list[BatchFigures]:
        """The batches that have a batch before them in time."""
        return self.batches[1:] or self.batches


def probe(stack: Stack, objects: list[RawObject]) -> Probe:
    table = stack.env["STATE_TABLE"]
    before = {b.batch_id for b in batch_records(table)}
    s3 = boto3.client("s3")
    started = time.monotonic()
    for obj in objects:
        s3.put_object(Bucket=stack.bucket, Key=obj.key, Body=obj.body)
    stack.notified += len(objects)
    wait_compacted(stack)
    elapsed = time.monotonic() - started
    readings = sum(o.lines for o in objects)
    figures = []
    new = [b for b in batch_records(table) if b.batch_id not in before]
    for record in new:
        ctas = [q for step, q in record.query_ids.items() if step != "discover"]
        figures.append(
            BatchFigures(
                discover=query_figures(record.query_ids["discover"]).scanned_bytes,
                ctas=sum(query_figures(q).scanned_bytes for q in ctas),
                readings=readings / len(new),
            )
        )
    return Probe(figures, elapsed, objects)


def prefix_bytes(bucket: str, prefix: str) -> int:
    total = 0
    for page in (
        boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        total += sum(int(item["Size"]) for item in page.get("Contents", []))
    return total


@dataclass(frozen=True)
class FleetFigures:
    devices: int
    morning: Probe
    evening: Probe
    objects_per_hour: float
    batches_needed_per_hour: float
    day_partition_bytes: int  # compacted/dt=<day>/ before the evening probe

    @property
    def ctas(self) -> float:
        return mean([float(b.ctas) for b in self.evening.steady + self.morning.steady])

    @property
    def dedup(self) -> float:
        return mean([float(b.dedup) for b in self.evening.steady + self.morning.steady])

    @property
    def own(self) -> float:
        return mean([float(b.discover) for b in self.evening.steady + self.morning.steady])

    @property
    def sustained_per_hour(self) -> float:
        batches = len(self.morning.batches) + len(self.evening.batches)
        return batches / (self.morning.seconds + self.evening.seconds) * 3600


def run_fleet(
    stack: Stack, readings: Readings, devices: int, day: date, batches: int, seed: int
) -> FleetFigures:
    env = stack.deployment
    buffer_mib, buffer_s = raw_buffer(env)
    count = batches * stack.threshold
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    results = []
    partition_bytes = 0
    for start in (MORNING, EVENING):
        if start == EVENING:
            partition_bytes = prefix_bytes(
                stack.bucket, f"{stack.env['COMPACTED_PREFIX']}dt={day.isoformat()}/"
            )
        rng = random.Random(seed + start)
        lines = arrivals(readings, devices, midnight + start * 1000, rng)
        objects = firehose_objects(stack, lines, count, buffer_mib * 1024 * 1024, buffer_s)
        say(
            f"{devices} devices, {'morning' if start == MORNING else 'evening'}: "
            f"{len(objects)} objects of {mean([float(o.raw_bytes) for o in objects]):.0f} bytes"
        )
        results.append(probe(stack, objects))
    morning, evening = results
    objects = morning.objects
    span_ms = max(1, objects[-1].first_ms - objects[0].first_ms)
    objects_per_hour = (len(objects) - 1) / span_ms * 3_600_000
    return FleetFigures(
        devices,
        morning,
        evening,
        objects_per_hour,
        objects_per_hour / stack.threshold,
        partition_bytes,
    )


def raw_buffer(deployment: Any) -> tuple[int, int]:
    """The raw delivery stream's buffer (MiB, seconds) as deployed."""
    streams = deployment.runtime["AWS::KinesisFirehose::DeliveryStream"]
    config = next(
        p["ExtendedS3DestinationConfiguration"]
        for p in streams.values()
        if "ExtendedS3DestinationConfiguration" in p
    )
    hints = config["BufferingHints"]
    return int(hints["SizeInMBs"]), int(hints["IntervalInSeconds"])


def report(fleet: FleetFigures) -> None:
    n = fleet.devices
    per_batch = mean([b.readings for b in fleet.morning.batches])
    raw = mean([float(o.raw_bytes) for o in fleet.morning.objects])
    print(
        f"devices_{n}: {per_batch:.0f} readings per batch, objects of {raw / 1024**2:.2f} MiB "
        f"before GZIP, {fleet.objects_per_hour:.0f} objects/h"
    )
    for label, p in (("morning", fleet.morning), ("evening", fleet.evening)):
        line = ", ".join(f"{b.ctas}" for b in p.batches)
        dedup = ", ".join(f"{b.dedup}" for b in p.batches)
        print(f"devices_{n}_{label}_ctas_bytes_per_batch: [{line}] (de-duplication: [{dedup}])")
    print(
        f"devices_{n}_bytes_scanned_per_batch: {fleet.own + fleet.ctas:.0f} (discover "
        f"{fleet.own:.0f} + CTAS {fleet.ctas:.0f}, of which de-duplication {fleet.dedup:.0f}, "
        f"{fleet.dedup / fleet.ctas:.1%}); per reading {(fleet.own + fleet.ctas) / per_batch:.1f}"
    )
    print(
        f"devices_{n}_day_partition_at_evening: {fleet.day_partition_bytes} bytes (what a "
        "whole-day anti-join would read per batch by then)"
    )
    keeps_up = fleet.sustained_per_hour >= fleet.batches_needed_per_hour
    print(
        f"COMPACTION devices={n} batches_per_hour_needed={fleet.batches_needed_per_hour:.1f} "
        f"batches_per_hour_sustained={fleet.sustained_per_hour:.1f} "
        f"keeps_up={'yes' if keeps_up else 'no'} "
        f"bytes_per_batch={fleet.own + fleet.ctas:.0f} "
        f"dedup_bytes_per_batch={fleet.dedup:.0f}"
    )


def ratios(small: FleetFigures, large: FleetFigures) -> None:
    factor = large.devices // small.devices
    label = f"{factor}x_to_1x_devices_{large.devices}_{small.devices}"
    total = (large.own + large.ctas) / (small.own + small.ctas)
    sizes = [f.morning.objects[0].raw_bytes / 1024**2 for f in (large, small)]
    print(
        f"bytes_per_batch_{label}: {total:.3f} (batches of threshold objects of "
        f"{sizes[0]:.2f} and {sizes[1]:.2f} MiB before GZIP)"
    )
    print(f"dedup_bytes_per_batch_{label}: {large.dedup / small.dedup:.3f}")
    for fleet in (small, large):
        growth = mean([float(b.ctas) for b in fleet.evening.steady]) / mean(
            [float(b.ctas) for b in fleet.morning.steady]
        )
        print(f"ctas_bytes_evening_to_morning_devices_{fleet.devices}: {growth:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[10, 1000, 10_000])
    parser.add_argument("--probe-batches", type=int, default=3, help="batches per probe")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-compaction-fleet-") as tmp, ExitStack() as exits:
        stack = deploy(Path(tmp), exits)
        thing = stack.deployment.refs[stack.deployment.created["AWS::IoT::Thing"][0]]
        readings = Readings(thing)
        say(f"deployed in {time.monotonic() - began:.0f}s")
        figures = []
        for number, devices in enumerate(args.devices):
            fleet = run_fleet(
                stack,
                readings,
                devices,
                FIRST_DAY + timedelta(days=number),
                args.probe_batches,
                number,
            )
            report(fleet)
            figures.append(fleet)
        by_size = {f.devices: f for f in figures}
        if 1000 in by_size and 10_000 in by_size:
            ratios(by_size[1000], by_size[10_000])
        print(
            f"machine: {os.cpu_count()} cores shared with other work; moto, local Athena "
            f"(DuckDB), the compactor and this script on it; {time.monotonic() - began:.0f} s"
        )


if __name__ == "__main__":
    main()
