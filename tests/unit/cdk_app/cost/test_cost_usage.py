"""Monthly quantities from the facts and the fleet, worked by hand."""

from dataclasses import replace

import pytest

from cdk_app.cost.template_usage import FirehoseFacts, StackFacts
from cdk_app.cost.usage import (
    Fleet,
    alerter_batches,
    dedup_scan_bytes,
    flush_interval,
    log_bytes_per_invocation,
    monthly_usage,
    raw_objects,
    stream_shards,
)
from cdk_app.cost.workload import Assumptions, ReadingSizes

MONTH = 730 * 3600
SIZES = ReadingSizes(
    payload_bytes=219,
    telemetry_topic="sensors/sensehat-01/telemetry",
    envelope_bytes=388,
    raw_line_bytes=274,
    document_bytes=273,
    gzip_ratio=0.1,
)


def firehose(destination: str, zones: int = 0) -> FirehoseFacts:
    return FirehoseFacts(destination, destination, 60, 5, 256, 1.0, 60, zones)


FACTS = StackFacts(
    kinesis_mode="PROVISIONED",
    kinesis_shards=1,
    kinesis_consumers=3,
    basic_ingest=False,
    rule_actions=1,
    firehoses=(firehose("opensearch", 1), firehose("s3")),
    alerter_memory_mib=256,
    alerter_batch_size=100,
    alerter_batching_window_seconds=1,
    alerter_threshold_cache_seconds=60,
    lambda_system_log_level="WARN",
    lambda_log_level="INFO",
    compactor_memory_mib=256,
    compaction_threshold=20,
    compactor_schedule_minutes=5.0,
    search_instance_type="t3.small.search",
    search_instance_count=1,
    search_volume_gib=10,
    search_volume_type="gp3",
    search_retention_days=30,
    interface_endpoints=1,
    interface_endpoint_zone_hours_per_hour=1,
    instances=(),
    alarms=21,
    kms_keys=2,
    secrets=1,
)


def fleet(devices: int, rate_hz: float = 1.0) -> Fleet:
    return Fleet(devices=devices, rate_hz=rate_hz, seconds=MONTH)


def test_a_buffer_flushes_at_its_age_or_its_size_whichever_first():
    assert flush_interval(60, 5 * 2**20, 274) == 60  # one device: the age
    assert flush_interval(60, 5 * 2**20, 2_740_000) == pytest.approx(1.9135, rel=1e-4)
    assert flush_interval(60, 5 * 2**20, 0) == float("inf")  # nothing arrives, nothing flushes


def test_raw_objects_one_a_minute_for_one_device_and_by_size_for_many():
    assert raw_objects(FACTS, fleet(1), SIZES) == pytest.approx(MONTH / 60)  # 43,800
    # 10,000 devices write 2.74 MB/s: 5 MiB every 1.9135 s.
    assert raw_objects(FACTS, fleet(10_000), SIZES) == pytest.approx(MONTH / 1.9135, rel=1e-4)
    assert raw_objects(FACTS, fleet(0), SIZES) == 0


def test_shards_provisioned_grow_only_when_the_writes_need_more():
    assert stream_shards(FACTS, fleet(1), 388) == (1, 1)
    assert stream_shards(FACTS, fleet(10_000), 388) == (10, 10)
    on_demand = replace(FACTS, kinesis_mode="ON_DEMAND", kinesis_shards=None)
    assert stream_shards(on_demand, fleet(1), 388) == (4, 1)


def test_alerter_invokes_once_a_second_per_busy_shard_or_at_the_batch_size():
    invocations, records, devices = alerter_batches(FACTS, fleet(1), shards=1)
    assert (invocations, records, devices) == (MONTH, 1, 1)
    invocations, records, devices = alerter_batches(FACTS, fleet(1_000), shards=1)
    assert invocations == pytest.approx(MONTH * 10)  # 100 records fill a batch in 0.1 s
    assert (records, devices) == (pytest.approx(100), pytest.approx(100))
    assert alerter_batches(FACTS, fleet(0), shards=1) == (0, 0, 0)


def test_one_device_month_hand_worked():
    usage = monthly_usage(FACTS, fleet(1), SIZES, raw_retention_days=30, a=Assumptions())
    assert usage.raw_objects == pytest.approx(43_800)
    assert usage.batches == pytest.approx(2_190)  # 43,800 objects / threshold 20
    # each batch: discover and CTAS, each billed the 10 MB minimum
    assert usage.athena_billed_bytes == pytest.approx(2_190 * 2 * 10 * 2**20)
    assert usage.s3_puts == pytest.approx(43_800 * 2 + 2_190 * 4)
    names = {f.name: f.invocations for f in usage.functions}
    assert names["alerter"] == pytest.approx(MONTH)
    assert names["compactor"] == pytest.approx(43_800 + MONTH / 300)  # events + schedule
    assert names["validator (s3)"] == pytest.approx(43_800)  # 1 MB or 60 s: the 60 s


def test_idle_is_only_the_schedule():
    usage = monthly_usage(FACTS, fleet(0), SIZES, raw_retention_days=30)
    assert [f.name for f in usage.functions if f.invocations] == ["compactor"]
    assert usage.raw_objects == usage.batches == usage.athena_billed_bytes == 0


def test_a_larger_batch_and_window_invoke_the_alerter_less_and_query_each_device_less():
    busy = replace(FACTS, alerter_batch_size=1_000, alerter_batching_window_seconds=10)
    # 1,000 readings/s on 4 shards: 250 a second each; 1,000 records fill a batch in 4 s.
    invocations, records, devices = alerter_batches(busy, fleet(1_000), shards=4)
    assert invocations == pytest.approx(4 * MONTH / 4)
    assert (records, devices) == (pytest.approx(1_000), pytest.approx(250))
    before = alerter_batches(FACTS, fleet(1_000), shards=4)
    assert before[0] * before[2] == pytest.approx(10 * MONTH * 100)  # state queries a month
    assert invocations * devices == pytest.approx(before[0] * before[2] / 4)


def test_log_bytes_follow_the_template_log_levels():
    a = Assumptions()
    assert log_bytes_per_invocation(FACTS, a) == a.metrics_log_bytes_per_invocation
    chatty = replace(FACTS, lambda_system_log_level="INFO", lambda_log_level="DEBUG")
    assert log_bytes_per_invocation(chatty, a) == (
        a.platform_log_bytes_per_invocation
        + a.metrics_log_bytes_per_invocation
        + a.summary_log_bytes_per_invocation
    )
    usage = monthly_usage(chatty, fleet(1), SIZES, raw_retention_days=30, a=a)
    quiet = monthly_usage(FACTS, fleet(1), SIZES, raw_retention_days=30, a=a)
    invocations = sum(f.invocations for f in usage.functions)
    assert usage.log_bytes - quiet.log_bytes == pytest.approx(
        invocations * (a.platform_log_bytes_per_invocation + a.summary_log_bytes_per_invocation)
    )


def test_the_de_duplication_reads_about_one_batch_whatever_the_time_of_day():
    a = Assumptions()
    # 10,000 devices: 20 objects of 5 MiB of 274 B lines, about 382,000 readings a batch.
    per_batch = 20 * 5 * 2**20 / 274
    assert dedup_scan_bytes(per_batch, a) == pytest.approx(per_batch * 6.0)
    many = monthly_usage(FACTS, fleet(10_000), SIZES, raw_retention_days=30, a=a)
    ten_times = monthly_usage(FACTS, fleet(100_000), SIZES, raw_retention_days=30, a=a)
    # Objects are full (5 MiB) at both sizes: ten times the batches, the same bytes per batch.
    assert ten_times.batches == pytest.approx(10 * many.batches)
    assert ten_times.athena_billed_bytes == pytest.approx(10 * many.athena_billed_bytes)
