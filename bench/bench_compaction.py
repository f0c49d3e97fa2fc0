"""Compaction: bytes scanned on raw versus compacted data, objects, batch time, flat batch cost.

The stack's template (`cdk synth` with cdk.json as it is: threshold 20) is deployed onto moto and
the local Athena endpoint by the local deployer; the compactor Lambda runs in the local Lambda
runtime and is invoked by the data bucket's S3 notifications, as in the local cloud. Raw data is
shaped as Firehose writes it: GZIP JSON lines (the validator's output format) under
`raw/dt=/hour=/` by arrival time, named as the delivery stream names its objects, holding real
readings: the complete days of the Astro Pi log (`data/astropi/`, a reading about every 10 s,
about 8,550 a day), built into readings by the device code. A day is OBJECTS_PER_DAY objects
(140: about ten minutes each, what a 600 s Firehose buffer holds at that rate).

1. DAYS days (1x history) are written to raw/ and compacted by the compactor, batch by batch.
   (a) the hourly-average query (athena/hourly_trend.sql, and the same query over the raw table):
   bytes scanned on raw and on compacted data; (b) objects before and after; (c) compaction time
   per batch (claim to SUCCEEDED).
2. (d) A probe of PROBE_BATCHES batches on a new day is compacted with that history (1x). Then
   DAYS x (HISTORY - 1) older days are added to raw/ and compacted/ (written without S3 events
   and compacted with the compactor's own CTAS SQL, one query per day, as if compacted long ago),
   and an identical probe on the next new day is compacted (HISTORYx). The bytes scanned by each
   probe batch's queries must stay flat; the whole-table query grows with history, the
   one-day query does not.

Bytes scanned are the local Athena's Statistics.DataScannedInBytes: the bytes of the S3 objects a
query actually read after partition and "$path" pruning. Athena reads only the needed columns of
Parquet, so it would scan less of the compacted data than that; the benchmark also prints the
size of the Parquet column chunks the query needs (from the files' footers).

Usage: bench/bench_compaction.py [--days 1] [--history 10] [--objects-per-day 140]
                                 [--probe-batches 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import re
import sys
import tempfile
import threading
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
import duckdb  # noqa: E402

from bench._compaction_state import (  # noqa: E402
    BatchRecord,
    batch_records,
    compactor_env,
    compactor_logical_id,
    counted_objects,
    mean,
    median,
    query_figures,
    unfinished,
)
from compactor.batches import Batch, new_batch_id  # noqa: E402
from compactor.files import AwsBatchFiles, split_s3_uri  # noqa: E402
from compactor.objects import RawObject  # noqa: E402
from compactor.sql import (  # noqa: E402
    COMPACTED_COLUMNS,
    Tables,
    ctas_sql,
    output_prefix,
    temporary_table,
)
from demo.run import LOG, synthesize  # noqa: E402
from device.config import ASTRO_PI_COLUMNS  # noqa: E402
from device.reading import Sample, build_reading  # noqa: E402
from device.sources.replay import ReplaySource  # noqa: E402
from localcloud.athena.server import AthenaServer  # noqa: E402
from localcloud.cloud import RESOURCE_TYPES, STACK  # noqa: E402
from localcloud.cloudformation.deployer import Clients, Deployer, Deployment  # noqa: E402
from localcloud.cloudformation.template import StackTemplate  # noqa: E402
from localcloud.firehose.config import S3Target  # noqa: E402
from localcloud.firehose.naming import object_suffix  # noqa: E402
from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda  # noqa: E402
from localcloud.lambda_.s3 import S3NotificationBridge  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402
from localcloud.opensearch.server import OpenSearchEmulator  # noqa: E402
from validator.settings import OutputFormat  # noqa: E402
from validator.transform import render  # noqa: E402

ARRIVAL_DELAY = timedelta(seconds=1)  # device -> IoT Core; raw/ is partitioned by arrival
WAIT_TIMEOUT = 900.0
HOURLY_SQL = ROOT / "athena" / "hourly_trend.sql"


def say(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# --- the deployed stack ------------------------------------------------------------------------


@dataclass
class Stack:
    deployment: Deployment
    env: dict[str, str]  # the compactor's environment
    raw_target: S3Target
    raw_stream: str
    bridge: S3NotificationBridge
    notified: int = 0  # raw objects written while the compactor was listening

    @property
    def bucket(self) -> str:
        return self.env["DATA_BUCKET"]

    @property
    def tables(self) -> Tables:
        return Tables(self.env["GLUE_DATABASE"], self.env["RAW_TABLE"], self.env["COMPACTED_TABLE"])

    @property
    def threshold(self) -> int:
        return int(self.env["COMPACTION_THRESHOLD"])


def deploy(work: Path, exits: ExitStack) -> Stack:
    cdk_out = work / "cdk.out"
    synthesize(cdk_out, {})
    template = StackTemplate.load(cdk_out, STACK)
    moto = exits.enter_context(MotoServer(log_path=work / "moto.log"))
    os.environ.update(moto.env())
    athena = exits.enter_context(AthenaServer(work_dir=work / "athena"))
    os.environ["AWS_ENDPOINT_URL_ATHENA"] = athena.endpoint
    # Nothing here searches; the emulated OpenSearch only gives the domain its endpoint.
    search = exits.enter_context(OpenSearchEmulator(data_dir=work / "opensearch"))
    deployment = Deployer(
        template, Clients(), RESOURCE_TYPES, env={"OPENSEARCH_URL": search.endpoint}
    ).deploy()

    logical_id = compactor_logical_id(deployment)
    config = LambdaFunctionConfig.from_cfn_properties(
        logical_id,
        deployment.runtime["AWS::Lambda::Function"][logical_id],
        template.asset_dir(template.resources[logical_id]),
        function_name=deployment.refs[logical_id],
    )
    function_env = {**moto.env(), "AWS_ENDPOINT_URL_ATHENA": athena.endpoint}
    function = exits.enter_context(
        LocalLambda(config, function_env, log_path=work / "compactor.log").start()
    )
    arn = deployment.attribute(logical_id, "Arn")
    bridge = None
    for props in deployment.runtime["Custom::S3BucketNotifications"].values():
        for item in props["NotificationConfiguration"].get("LambdaFunctionConfigurations", []):
            if item["LambdaFunctionArn"] == arn:
                bridge = S3NotificationBridge.from_lambda_configuration(
                    props["BucketName"], item, function
                )
    if bridge is None:
        raise RuntimeError("the template sends no S3 notification to the compactor")
    stop = threading.Event()
    thread = bridge.start(stop)
    exits.callback(thread.join, 30)
    exits.callback(stop.set)

    streams = deployment.runtime["AWS::KinesisFirehose::DeliveryStream"]
    raw_id, raw_props = next(
        (lid, p) for lid, p in streams.items() if "ExtendedS3DestinationConfiguration" in p
    )
    target = S3Target.from_cfn(raw_props["ExtendedS3DestinationConfiguration"], raw_id)
    return Stack(deployment, compactor_env(deployment), target, deployment.refs[raw_id], bridge)


# --- raw data shaped like Firehose's ------------------------------------------------------------

SEQ_STRIDE = 10_000  # seq = day slot * SEQ_STRIDE + row: distinct, increasing with time


@dataclass(frozen=True)
class RawFile:
    key: str
    body: bytes
    dates: frozenset[str]  # the reading dates (UTC, from ts) of its lines


class AstroPiLog:
    """The shipped log's complete days as samples (the log has partial days at both ends and
    a gap of eleven hours on its second day)."""

    def __init__(self, thing: str) -> None:
        source = ReplaySource(LOG, ASTRO_PI_COLUMNS, thing)
        self.thing = thing
        by_date: dict[date, list[Sample]] = {}
        for item in source.items():
            if isinstance(item, Sample):
                by_date.setdefault(item.ts.date(), []).append(item)
        most = max(len(samples) for samples in by_date.values())
        self.days = [s for _, s in sorted(by_date.items()) if len(s) >= 0.95 * most]


def chunks(count: int, parts: int) -> Iterator[range]:
    """`count` items in `parts` consecutive runs of nearly equal length."""
    size, extra = divmod(count, parts)
    start = 0
    for number in range(parts):
        end = start + size + (1 if number < extra else 0)
        yield range(start, end)
        start = end


@dataclass(frozen=True)
class Timeline:
    """Day slots 0..: slot n holds one of the log's full days, moved to `start + n days`."""

    log: AstroPiLog
    start: date

    def day(
        self,
        slot: int,
        parts: int,
        stack: Stack,
        rows: int | None = None,
        source: int | None = None,
    ) -> list[RawFile]:
        """The raw objects of slot `slot`: the log's day `source` (default: the slots cycle
        through the log's days), its first `rows` readings."""
        index = slot % len(self.log.days) if source is None else source
        samples = self.log.days[index][:rows]
        source_day = samples[0].ts.date()
        shift = (self.start + timedelta(days=slot)) - source_day
        return raw_files(stack, samples, self.log.thing, shift, slot * SEQ_STRIDE, parts)

    def date_of(self, slot: int) -> str:
        return (self.start + timedelta(days=slot)).isoformat()


def raw_files(
    stack: Stack, samples: list[Sample], thing: str, shift: timedelta, seq_base: int, parts: int
) -> list[RawFile]:
    """`samples` moved by `shift`, as `parts` objects the raw delivery stream would write."""
    files = []
    for run in chunks(len(samples), parts):
        lines = []
        dates = set()
        arrival = None
        for index in run:
            sample = dataclasses.replace(samples[index], ts=samples[index].ts + shift)
            reading = build_reading(sample, thing, seq_base + index)
            arrived = sample.ts + ARRIVAL_DELAY
            arrival = arrival or arrived
            millis = int(arrived.timestamp() * 1000)
            lines.append(render(reading, thing, millis, OutputFormat.S3_LINES))
            dates.add(reading["ts"][:10])
        assert arrival is not None
        # Firehose names an object after the arrival of its oldest record.
        moment = arrival.astimezone(stack.raw_target.time_zone)
        key = stack.raw_target.prefixes.data_prefix(moment) + object_suffix(
            stack.raw_stream, 1, moment, stack.raw_target.extension
        )
        files.append(RawFile(key, gzip.compress(b"".join(lines)), frozenset(dates)))
    return files


def put(stack: Stack, files: list[RawFile], notify: bool = True) -> None:
    s3 = boto3.client("s3")
    for file in files:
        s3.put_object(Bucket=stack.bucket, Key=file.key, Body=file.body)
    if notify:
        stack.notified += len(files)


def put_without_events(stack: Stack, files: list[RawFile]) -> None:
    """Older data: written while the bucket sends no notifications (the compactor never sees
    it), then the bucket's notification configuration is put back as it was."""
    s3 = boto3.client("s3")
    saved = s3.get_bucket_notification_configuration(Bucket=stack.bucket)
    saved.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
    try:
        put(stack, files, notify=False)
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=stack.bucket, NotificationConfiguration=saved
        )


# --- the compactor at work ----------------------------------------------------------------------


def wait_compacted(stack: Stack) -> None:
    """Until the compactor has counted every object written with events and finished every
    batch (every object in a batch, every batch SUCCEEDED)."""
    table = stack.env["STATE_TABLE"]
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        if counted_objects(table) >= stack.notified and unfinished(table) == 0:
            failed = [b for b in batch_records(table) if b.status != "SUCCEEDED"]
            if failed:
                raise RuntimeError(f"batches not SUCCEEDED: {failed}")
            return
        time.sleep(0.5)
    raise TimeoutError(f"compaction not finished after {WAIT_TIMEOUT:.0f}s")


def compact_directly(stack: Stack, files: list[RawFile]) -> None:
    """Older days, compacted as the compactor does it: per reading date one CTAS (the
    compactor's SQL) over exactly these objects, its files copied into
    compacted/dt=<date>/batch=<id>/, the temporary table dropped and its files deleted."""
    tables = stack.tables
    batch_files = AwsBatchFiles(boto3.client("s3"), boto3.client("glue"))
    for reading_date in sorted({d for f in files for d in f.dates}):
        objects = tuple(
            RawObject(stack.bucket, f.key, *raw_partition(f.key), "")
            for f in files
            if reading_date in f.dates
        )
        batch = Batch(new_batch_id(datetime.now(UTC)), objects, "history", "")
        run_query(stack, ctas_sql(batch, reading_date, tables))
        temp = temporary_table(batch.batch_id, reading_date)
        source = batch_files.table_location(tables.database, temp)
        if source is None:
            raise RuntimeError(f"the CTAS of {reading_date} left no table {temp}")
        prefix = output_prefix(stack.env["COMPACTED_PREFIX"], batch.batch_id, reading_date)
        batch_files.copy_prefix(source, stack.bucket, prefix)
        batch_files.drop_table(tables.database, temp)
        batch_files.delete_prefix(*split_s3_uri(source))


def raw_partition(key: str) -> tuple[str, int]:
    match = re.search(r"/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/", key)
    if match is None:
        raise ValueError(f"{key} is not under dt=/hour=")
    return match.group(1), int(match.group(2))


def run_query(stack: Stack, sql: str) -> dict[str, Any]:
    """Run a query in the stack's workgroup and database; its QueryExecution."""
    athena = boto3.client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": stack.tables.database},
        WorkGroup=stack.env["ATHENA_WORKGROUP"],
    )["QueryExecutionId"]
    delay = 0.02
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        if state == "SUCCEEDED":
            return dict(execution)
        if state in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"{state}: {execution['Status'].get('StateChangeReason')}\n{sql}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def query_rows(query_id: str) -> list[list[str]]:
    rows: list[list[str]] = []
    paginator = boto3.client("athena").get_paginator("get_query_results")
    for page in paginator.paginate(QueryExecutionId=query_id):
        rows += [[c.get("VarCharValue", "") for c in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return rows[1:]


def listing(bucket: str, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object under the prefix."""
    found = []
    paginator = boto3.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        found += [(item["Key"], int(item["Size"])) for item in page.get("Contents", [])]
    return found


# --- the hourly-average query ------------------------------------------------------------------


def hourly_queries(stack: Stack, day: str | None) -> tuple[str, str]:
    """The same query over the raw table (where `ts` is still ISO text) and athena/
    hourly_trend.sql on the compacted table; both optionally filtered to one `dt` partition."""
    compacted = HOURLY_SQL.read_text(encoding="utf-8")
    table = f"FROM {stack.tables.compacted}\n"
    if table not in compacted or "date_trunc('hour', ts)" not in compacted:
        raise RuntimeError(f"{HOURLY_SQL} changed; update its raw variant in this benchmark")
    raw = compacted.replace(table, f"FROM {stack.tables.raw}\n").replace(
        "date_trunc('hour', ts)", "date_trunc('hour', from_iso8601_timestamp(ts))"
    )
    if day is not None:
        where = f"WHERE dt = '{day}'\nGROUP BY"
        raw, compacted = (sql.replace("GROUP BY", where, 1) for sql in (raw, compacted))
    return raw, compacted


@dataclass(frozen=True)
class Scanned:
    raw: int
    compacted: int
    hours: int


def hourly_scanned(stack: Stack, day: str | None) -> Scanned:
    """Bytes scanned by the hourly-average query on raw and on compacted data; the results of
    both must be the same (averages, maxima, counts per device and hour)."""
    raw_sql, compacted_sql = hourly_queries(stack, day)
    raw = run_query(stack, raw_sql)
    compacted = run_query(stack, compacted_sql)
    raw_rows = query_rows(raw["QueryExecutionId"])
    compacted_rows = query_rows(compacted["QueryExecutionId"])
    if [r[:1] + r[2:] for r in raw_rows] != [r[:1] + r[2:] for r in compacted_rows]:
        raise RuntimeError(f"the hourly averages differ between raw and compacted data ({day})")
    return Scanned(
        int(raw["Statistics"]["DataScannedInBytes"]),
        int(compacted["Statistics"]["DataScannedInBytes"]),
        len(raw_rows),
    )


def parquet_column_bytes(stack: Stack, keys: list[str], sql: str, work: Path) -> int:
    """The compressed size of the Parquet column chunks `sql` refers to, in the given files
    (from their footers): what Athena reads of them, apart from the footers themselves."""
    columns = [c for c in COMPACTED_COLUMNS if re.search(rf"\b{c}\b", sql)]
    folder = work / "parquet"
    folder.mkdir(exist_ok=True)
    s3 = boto3.client("s3")
    total = 0
    connection = duckdb.connect()
    for number, key in enumerate(keys):
        path = folder / f"{number}.parquet"
        s3.download_file(stack.bucket, key, str(path))
        row = connection.execute(
            "SELECT coalesce(sum(total_compressed_size), 0) FROM parquet_metadata(?) "
            "WHERE path_in_schema IN (SELECT unnest(?::VARCHAR[]))",
            [str(path), columns],
        ).fetchone()
        total += int(row[0]) if row else 0
    connection.close()
    return total


# --- the probes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeFigures:
    discover_bytes: list[int]
    ctas_bytes: list[int]
    batch_seconds: list[float]
    query_seconds: list[float]  # each query of the batches, submission to completion
    raw_bytes_per_batch: float  # the batch's own raw objects


def probe(stack: Stack, files: list[RawFile]) -> ProbeFigures:
    """Write the probe's objects (S3 notifies the compactor) and read its batches' figures."""
    table = stack.env["STATE_TABLE"]
    before = {b.batch_id for b in batch_records(table)}
    put(stack, files)
    wait_compacted(stack)
    batches = [b for b in batch_records(table) if b.batch_id not in before]
    discover = [query_figures(b.query_ids["discover"]).scanned_bytes for b in batches]
    ctas = [sum(query_figures(q).scanned_bytes for q in ctas_queries(b)) for b in batches]
    seconds = [b.seconds or 0.0 for b in batches]
    queries = [query_figures(q).seconds for b in batches for q in b.query_ids.values()]
    raw_bytes = sum(len(f.body) for f in files) / len(batches)
    return ProbeFigures(discover, ctas, seconds, queries, raw_bytes)


def ctas_queries(batch: BatchRecord) -> list[str]:
    return [query for step, query in batch.query_ids.items() if step != "discover"]


def flat_figures(name: str, at_1x: ProbeFigures, at_nx: ProbeFigures, history: int) -> None:
    """Bytes scanned per batch of the probe at 1x and at HISTORYx; the batch's own raw objects
    (identical readings on another day and with other seqs) differ by a few bytes as well."""
    values = {
        "1x": mean([float(v) for v in getattr(at_1x, f"{name}_bytes")]),
        f"{history}x": mean([float(v) for v in getattr(at_nx, f"{name}_bytes")]),
    }
    own = {"1x": at_1x.raw_bytes_per_batch, f"{history}x": at_nx.raw_bytes_per_batch}
    for label, value in values.items():
        print(
            f"batch_{name}_scanned_{label}_history: {value:.0f} bytes per batch (the batch's own "
            f"raw objects: {own[label]:.0f} bytes)"
        )
    ratio = values[f"{history}x"] / values["1x"]
    own_ratio = own[f"{history}x"] / own["1x"]
    print(
        f"batch_{name}_scanned_ratio_{history}x_to_1x: {ratio:.3f} (own raw objects: "
        f"{own_ratio:.3f})"
    )


# --- the benchmark ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=1, help="days compacted by the compactor")
    parser.add_argument("--history", type=int, default=10, help="history factor of the 2nd probe")
    parser.add_argument("--objects-per-day", type=int, default=140, help="raw objects per day")
    parser.add_argument("--probe-batches", type=int, default=2, help="batches per probe")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-compaction-") as tmp, ExitStack() as exits:
        work = Path(tmp)
        stack = deploy(work, exits)
        threshold = stack.threshold
        if args.objects_per_day % threshold:
            raise SystemExit(f"--objects-per-day must be a multiple of the threshold {threshold}")
        if args.history < 2:
            raise SystemExit("--history must be at least 2")
        thing = stack.deployment.refs[stack.deployment.created["AWS::IoT::Thing"][0]]
        log = AstroPiLog(thing)
        # Slots 0 .. older-1: added history; older .. slots-1: the 1x history; then the probes.
        older = args.days * (args.history - 1)
        slots = args.days * args.history
        timeline = Timeline(log, log.days[0][0].ts.date() - timedelta(days=older))
        say(f"deployed in {time.monotonic() - began:.0f}s")

        # 1. DAYS days through the compactor.
        files = [
            f for n in range(older, slots) for f in timeline.day(n, args.objects_per_day, stack)
        ]
        started = time.monotonic()
        put(stack, files)
        wait_compacted(stack)
        elapsed = time.monotonic() - started
        batches = batch_records(stack.env["STATE_TABLE"])
        raw_objects = listing(stack.bucket, stack.env["RAW_PREFIX"])
        compacted_objects = listing(stack.bucket, stack.env["COMPACTED_PREFIX"])
        count = sum(len(log.days[n % len(log.days)]) for n in range(older, slots))

        scanned = hourly_scanned(stack, None)
        _, compacted_sql = hourly_queries(stack, None)
        columns = parquet_column_bytes(
            stack, [key for key, _ in compacted_objects], compacted_sql, work
        )
        print(
            f"hourly_avg_raw_scanned: {scanned.raw} bytes ({count} readings, {scanned.hours} "
            "device-hours; athena/hourly_trend.sql over raw_readings)"
        )
        print(f"hourly_avg_compacted_scanned: {scanned.compacted} bytes (same results)")
        print(f"hourly_avg_raw_to_compacted_ratio: {scanned.raw / scanned.compacted:.2f} x")
        print(
            f"hourly_avg_compacted_column_chunks: {columns} bytes (the Parquet columns the query "
            f"reads; ratio to raw {scanned.raw / columns:.1f} x)"
        )
        raw_size = sum(size for _, size in raw_objects)
        compacted_size = sum(size for _, size in compacted_objects)
        print(f"objects_before_compaction: {len(raw_objects)} raw objects ({raw_size} bytes)")
        print(
            f"objects_after_compaction: {len(compacted_objects)} Parquet objects "
            f"({compacted_size} bytes; {len(batches)} batches of {threshold})"
        )
        seconds = [b.seconds or 0.0 for b in batches]
        ctas_seconds = [query_figures(q).seconds for b in batches for q in ctas_queries(b)]
        print(
            f"compaction_time_per_batch: {mean(seconds):.1f} s mean, {max(seconds):.1f} s max "
            "(claim to SUCCEEDED: discover query, CTAS per reading date, copy, tagging)"
        )
        print(f"compaction_ctas_query_time: {mean(ctas_seconds):.2f} s mean per CTAS")
        print(
            f"compaction_throughput: {len(files) / elapsed:.2f} objects/s, {count / elapsed:.0f} "
            f"readings/s ({len(files)} objects in {elapsed:.0f} s, S3 events one at a time)"
        )

        # 2. The same probe with 1x and with HISTORYx history.
        per_object = len(log.days[0]) // args.objects_per_day
        parts = args.probe_batches * threshold
        say(f"probe at 1x history: {parts} objects on a new day")
        at_1x = probe(stack, timeline.day(slots, parts, stack, parts * per_object, source=0))
        say(f"adding {older} older days to raw/ and compacted/")
        for slot in range(older):
            day_files = timeline.day(slot, args.objects_per_day, stack)
            put_without_events(stack, day_files)
            compact_directly(stack, day_files)
        say(f"probe at {args.history}x history")
        at_nx = probe(stack, timeline.day(slots + 1, parts, stack, parts * per_object, source=0))

        flat_figures("ctas", at_1x, at_nx, args.history)
        flat_figures("discover", at_1x, at_nx, args.history)
        for label, figures in (("1x", at_1x), (f"{args.history}x", at_nx)):
            print(
                f"batch_time_{label}_history: {median(figures.batch_seconds):.1f} s median (its "
                f"queries: {median(figures.query_seconds):.2f} s median each; noisy on a shared "
                "machine)"
            )
        whole = hourly_scanned(stack, None)
        one_day = hourly_scanned(stack, timeline.date_of(slots - 1))
        print(
            f"hourly_avg_{args.history}x_history_whole_table: raw {whole.raw} bytes, compacted "
            f"{whole.compacted} bytes (grows with history)"
        )
        print(
            f"hourly_avg_{args.history}x_history_one_day: raw {one_day.raw} bytes, compacted "
            f"{one_day.compacted} bytes (WHERE dt = one day: as at 1x)"
        )
        print(
            f"machine: {os.cpu_count()} cores shared with other work; moto, local Athena "
            f"(DuckDB), the compactor and this script on it; {time.monotonic() - began:.0f} s"
        )


if __name__ == "__main__":
    main()
