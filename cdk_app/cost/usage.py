"""Monthly quantities for a fleet: readings, records, objects, invocations, queries, requests.

Everything here follows from the template's facts (buffers, batch sizes, threshold, schedule,
shards), the reading sizes (workload.py) and the fleet (devices, readings per second each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cdk_app.cost import meters
from cdk_app.cost.template_usage import FirehoseFacts, StackFacts
from cdk_app.cost.workload import DEFAULT_ASSUMPTIONS, Assumptions, ReadingSizes

ON_DEMAND_INITIAL_SHARDS = 4  # an on-demand stream starts with 4 MB/s, 4,000 records/s


@dataclass(frozen=True)
class Fleet:
    devices: int
    rate_hz: float
    seconds: float  # in the month: hours_per_month x 3600

    @property
    def readings_per_second(self) -> float:
        return self.devices * self.rate_hz

    @property
    def readings(self) -> float:
        return self.readings_per_second * self.seconds


@dataclass(frozen=True)
class FunctionUse:
    name: str
    invocations: float
    gb_seconds: float


@dataclass(frozen=True)
class Usage:
    fleet: Fleet
    shards: int  # shards the stream has (provisioned: at least those the writes need)
    shards_needed: int
    functions: tuple[FunctionUse, ...]
    raw_objects: float
    batches: float
    athena_billed_bytes: float
    s3_puts: float
    s3_gets: float
    s3_stored_bytes: float
    dynamodb_wru: float
    dynamodb_rru: float
    log_bytes: float
    search_volume_gib_needed: float


def stream_shards(facts: StackFacts, fleet: Fleet, record_bytes: int) -> tuple[int, int]:
    """(shards the stream runs with, shards its writes need)."""
    rps = fleet.readings_per_second
    needed = meters.provisioned_shards_needed(rps, rps * record_bytes)
    if facts.kinesis_mode == "ON_DEMAND":
        # On-demand keeps room for twice the peak of the last 30 days.
        return max(ON_DEMAND_INITIAL_SHARDS, 2 * needed), needed
    return max(facts.kinesis_shards or 1, needed), needed


def flush_interval(buffer_seconds: float, buffer_bytes: float, bytes_per_second: float) -> float:
    """Seconds between two flushes of a buffer that flushes at a size or an age, first reached."""
    if bytes_per_second <= 0:
        return math.inf
    return min(float(buffer_seconds), buffer_bytes / bytes_per_second)


def validator_use(
    firehose: FirehoseFacts, fleet: Fleet, sizes: ReadingSizes, a: Assumptions
) -> FunctionUse:
    """Firehose invokes its transformation Lambda with what it buffered: 1 MB or 60 s."""
    interval = flush_interval(
        firehose.processor_buffer_seconds,
        firehose.processor_buffer_mib * meters.MB,
        fleet.readings_per_second * sizes.envelope_bytes,
    )
    if math.isinf(interval):
        return FunctionUse(f"validator ({firehose.destination})", 0.0, 0.0)
    invocations = fleet.seconds / interval
    records = fleet.readings_per_second * interval
    duration = a.validator_ms_per_invocation + a.validator_ms_per_record * records
    gb_s = invocations * meters.lambda_gb_seconds(firehose.processor_memory_mib or 128, duration)
    return FunctionUse(f"validator ({firehose.destination})", invocations, gb_s)


def alerter_batches(facts: StackFacts, fleet: Fleet, shards: int) -> tuple[float, float, float]:
    """(invocations, records per invocation, devices per invocation) of the alerter: the event
    source polls each shard about once a second, waits up to the batching window, and invokes at
    the batch size or the window, whichever comes first. Records of a device share its shard."""
    if fleet.devices == 0 or fleet.rate_hz == 0:
        return 0.0, 0.0, 0.0
    active = min(shards, fleet.devices)
    per_shard = fleet.readings_per_second / active
    window = max(1.0, float(facts.alerter_batching_window_seconds))
    interval = min(window, facts.alerter_batch_size / per_shard)
    records = per_shard * interval
    devices = min(fleet.devices / active, records)
    return active * fleet.seconds / interval, records, devices


def raw_objects(facts: StackFacts, fleet: Fleet, sizes: ReadingSizes) -> float:
    """Objects Firehose writes to raw/: one per buffer flush (its size counts the data before
    GZIP), for as long as readings arrive."""
    s3 = facts.firehose("s3")
    if s3 is None:
        return 0.0
    interval = flush_interval(
        s3.buffer_seconds,
        s3.buffer_mib * meters.MB,
        fleet.readings_per_second * sizes.raw_line_bytes,
    )
    return 0.0 if math.isinf(interval) else fleet.seconds / interval


def log_bytes_per_invocation(facts: StackFacts, a: Assumptions) -> float:
    """What a function writes to CloudWatch Logs per invocation, by the template's log levels."""
    platform = a.platform_log_bytes_per_invocation if facts.lambda_system_log_level != "WARN" else 0
    summary = a.summary_log_bytes_per_invocation if facts.lambda_log_level == "DEBUG" else 0
    return platform + a.metrics_log_bytes_per_invocation + summary


def dedup_scan_bytes(readings_per_batch: float, a: Assumptions) -> float:
    """Bytes a CTAS's de-duplication reads of the compacted table: the key columns of the batches
    whose seconds meet its own - about one batch's rows, the one before it in time
    (athena/compaction.md; bench/bench_compaction_fleet.py)."""
    return readings_per_batch * a.dedup_neighbour_batches * a.parquet_key_bytes_per_row


def compaction(
    facts: StackFacts, fleet: Fleet, sizes: ReadingSizes, a: Assumptions
) -> tuple[float, float, float, float]:
    """(batches, Athena bytes billed, S3 GETs by Athena, compactor GB-s) for the month."""
    objects = raw_objects(facts, fleet, sizes)
    batches = objects / facts.compaction_threshold
    runs = fleet.seconds / 60 / facts.compactor_schedule_minutes
    duration_ms = (
        objects * a.compactor_ms_per_object_event
        + runs * a.compactor_ms_per_scheduled_run
        + batches * a.compactor_seconds_per_batch * 1000
    )
    gb_s = meters.lambda_gb_seconds(facts.compactor_memory_mib, duration_ms)
    if batches == 0:
        return 0.0, 0.0, 0.0, gb_s
    batch_raw_bytes = fleet.readings / batches * sizes.raw_line_bytes * sizes.gzip_ratio
    discover = meters.athena_billed_bytes(batch_raw_bytes)
    ctas = meters.athena_billed_bytes(
        batch_raw_bytes + dedup_scan_bytes(fleet.readings / batches, a)
    )
    batches_per_day = batches / (fleet.seconds / 86_400)
    gets = batches * (2 * facts.compaction_threshold + batches_per_day / 2)
    return batches, batches * (discover + ctas), gets, gb_s


def search_volume_needed(
    facts: StackFacts, fleet: Fleet, sizes: ReadingSizes, a: Assumptions
) -> float:
    """GiB per node the documents of `searchIndexRetentionDays` need, with a replica when there
    is more than one node, keeping the free space OpenSearch wants."""
    replicas = 1 if facts.search_instance_count > 1 else 0
    documents = fleet.readings_per_second * 86_400 * facts.search_retention_days
    disk = documents * sizes.document_bytes * a.search_disk_per_document_byte * (1 + replicas)
    return disk / (1 - a.search_free_space_fraction) / facts.search_instance_count / meters.GB


def monthly_usage(
    facts: StackFacts,
    fleet: Fleet,
    sizes: ReadingSizes,
    raw_retention_days: int,
    a: Assumptions = DEFAULT_ASSUMPTIONS,
) -> Usage:
    shards, needed = stream_shards(facts, fleet, sizes.envelope_bytes)
    validators = [validator_use(f, fleet, sizes, a) for f in facts.firehoses]
    invocations, records, devices = alerter_batches(facts, fleet, shards)
    duration = (
        a.alerter_ms_per_invocation
        + a.alerter_ms_per_device * devices
        + a.alerter_ms_per_record * records
    )
    alerter = FunctionUse(
        "alerter",
        invocations,
        invocations * meters.lambda_gb_seconds(facts.alerter_memory_mib, duration),
    )
    objects = raw_objects(facts, fleet, sizes)
    batches, athena_bytes, athena_gets, compactor_gb_s = compaction(facts, fleet, sizes, a)
    runs = fleet.seconds / 60 / facts.compactor_schedule_minutes
    compactor = FunctionUse("compactor", objects + runs, compactor_gb_s)
    functions = (*validators, alerter, compactor)
    # S3: Firehose's PUT of each raw object, its tagging when compacted (a PUT-tier request);
    # per batch a LIST of the CTAS output, its Parquet file and metadata, and the copy.
    s3_puts = objects * 2 + batches * 4
    active_shards = min(shards, fleet.devices) if fleet.devices else 0
    threshold_scans = active_shards * fleet.seconds / max(1, facts.alerter_threshold_cache_seconds)
    stored = (
        fleet.readings_per_second
        * 86_400
        * raw_retention_days
        * sizes.raw_line_bytes
        * sizes.gzip_ratio
        + fleet.readings * a.parquet_bytes_per_reading
    )
    return Usage(
        fleet=fleet,
        shards=shards,
        shards_needed=needed,
        functions=functions,
        raw_objects=objects,
        batches=batches,
        athena_billed_bytes=athena_bytes,
        s3_puts=s3_puts,
        s3_gets=athena_gets,
        s3_stored_bytes=stored,
        # Compactor: each object counted once (1 WRU), each batch claimed in one transaction of
        # threshold + 2 items (2 WRU each) and its steps recorded (about 4 writes).
        dynamodb_wru=objects
        + batches
        * (meters.dynamodb_write_units(1024, True) * (facts.compaction_threshold + 2) + 4),
        # Alerter: one state Query per device in a batch; the threshold table's Scan per cache
        # period per shard; the compactor's look for open batches on each scheduled run.
        dynamodb_rru=invocations * devices + threshold_scans + runs,
        log_bytes=sum(f.invocations for f in functions) * log_bytes_per_invocation(facts, a),
        search_volume_gib_needed=search_volume_needed(facts, fleet, sizes, a),
    )
