"""The metering rules AWS bills by: how many billable units one request or record makes."""

from __future__ import annotations

import math

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

IOT_MESSAGE_UNIT = 5 * KB  # IoT Core meters messages and rule evaluations in 5 KB units
KINESIS_PUT_PAYLOAD_UNIT = 25 * KB  # provisioned: PUT payload units of 25 KB per record
KINESIS_ON_DEMAND_ROUNDING = 1 * KB  # on-demand: each record's size rounded up to 1 KB
FIREHOSE_INGEST_ROUNDING = 5 * KB  # Firehose: each record rounded up to 5 KB
ATHENA_MINIMUM_SCAN = 10 * MB  # Athena: at least 10 MB per query
DYNAMODB_WRITE_UNIT = 1 * KB  # one write request unit per 1 KB of item
DYNAMODB_READ_UNIT = 4 * KB  # one read request unit per 4 KB (strongly consistent)
KINESIS_SHARD_RECORDS_PER_SECOND = 1000
KINESIS_SHARD_BYTES_PER_SECOND = 1 * MB


def units(size_bytes: float, unit: int) -> int:
    """Units of `unit` bytes a request of `size_bytes` is billed as (at least one)."""
    return max(1, math.ceil(size_bytes / unit))


def iot_message_units(payload_bytes: int, topic: str) -> int:
    """IoT Core: a PUBLISH is metered on its payload plus topic, in 5 KB units."""
    return units(payload_bytes + len(topic.encode()), IOT_MESSAGE_UNIT)


def kinesis_put_payload_units(record_bytes: int) -> int:
    return units(record_bytes, KINESIS_PUT_PAYLOAD_UNIT)


def kinesis_on_demand_billed_bytes(record_bytes: int) -> int:
    return units(record_bytes, KINESIS_ON_DEMAND_ROUNDING) * KINESIS_ON_DEMAND_ROUNDING


def firehose_billed_bytes(record_bytes: int) -> int:
    return units(record_bytes, FIREHOSE_INGEST_ROUNDING) * FIREHOSE_INGEST_ROUNDING


def athena_billed_bytes(scanned_bytes: float) -> float:
    """Athena bills at least 10 MB per query, else the bytes scanned rounded up to a MB."""
    return max(ATHENA_MINIMUM_SCAN, math.ceil(scanned_bytes / MB) * MB)


def dynamodb_write_units(item_bytes: int, transactional: bool = False) -> int:
    return units(item_bytes, DYNAMODB_WRITE_UNIT) * (2 if transactional else 1)


def dynamodb_read_units(item_bytes: int, eventually_consistent: bool = False) -> float:
    whole = units(item_bytes, DYNAMODB_READ_UNIT)
    return whole / 2 if eventually_consistent else float(whole)


def lambda_gb_seconds(memory_mib: int, duration_ms: float) -> float:
    return memory_mib / 1024 * duration_ms / 1000


def provisioned_shards_needed(records_per_second: float, bytes_per_second: float) -> int:
    """Shards one stream needs for its writes: 1,000 records/s and 1 MB/s per shard."""
    return max(
        1,
        math.ceil(records_per_second / KINESIS_SHARD_RECORDS_PER_SECOND),
        math.ceil(bytes_per_second / KINESIS_SHARD_BYTES_PER_SECOND),
    )
