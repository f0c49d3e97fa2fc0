"""The metering rules, at and just past each unit's edge."""

import pytest

from cdk_app.cost import meters

KB, MB = 1024, 1024 * 1024


def test_iot_meters_payload_and_topic_in_5_kb_units():
    topic = "sensors/sensehat-01/telemetry"  # 29 bytes
    assert meters.iot_message_units(219, topic) == 1
    assert meters.iot_message_units(5 * KB - 29, topic) == 1
    assert meters.iot_message_units(5 * KB - 28, topic) == 2
    assert meters.iot_message_units(0, "") == 1  # an empty message is still one message


def test_kinesis_put_payload_units_are_25_kb_and_on_demand_rounds_to_1_kb():
    assert meters.kinesis_put_payload_units(388) == 1
    assert meters.kinesis_put_payload_units(25 * KB) == 1
    assert meters.kinesis_put_payload_units(25 * KB + 1) == 2
    assert meters.kinesis_on_demand_billed_bytes(388) == KB
    assert meters.kinesis_on_demand_billed_bytes(4.5 * KB) == 5 * KB  # the pricing page's example


def test_firehose_rounds_each_record_up_to_5_kb():
    assert meters.firehose_billed_bytes(388) == 5 * KB
    assert meters.firehose_billed_bytes(3 * KB) == 5 * KB
    assert meters.firehose_billed_bytes(12 * KB) == 15 * KB


def test_athena_bills_at_least_10_mb_a_query_and_whole_megabytes():
    assert meters.athena_billed_bytes(1) == 10 * MB
    assert meters.athena_billed_bytes(10 * MB) == 10 * MB
    assert meters.athena_billed_bytes(10 * MB + 1) == 11 * MB


def test_dynamodb_request_units_per_item():
    assert meters.dynamodb_write_units(1 * KB) == 1
    assert meters.dynamodb_write_units(3 * KB, transactional=True) == 6  # the pricing page's
    assert meters.dynamodb_read_units(8 * KB) == 2
    assert meters.dynamodb_read_units(8 * KB, eventually_consistent=True) == 1


def test_lambda_gb_seconds():
    assert meters.lambda_gb_seconds(512, 300) == pytest.approx(0.15)


def test_a_shard_takes_1000_records_or_1_mb_a_second():
    assert meters.provisioned_shards_needed(0, 0) == 1
    assert meters.provisioned_shards_needed(1000, 388_000) == 1
    assert meters.provisioned_shards_needed(1001, 388_388) == 2
    assert meters.provisioned_shards_needed(10, 2.5 * MB) == 3
