"""Each service's formula against a month worked by hand (730 hours, round prices)."""

import pytest

from cdk_app.cost import services
from cdk_app.cost.prices import Price, PriceList

HAND = {
    "iot.connectivity_per_million_minutes": 0.08,
    "iot.messages_per_million": 1.0,
    "iot.rules_triggered_per_million": 0.15,
    "iot.actions_executed_per_million": 0.15,
    "kinesis.shard_hour": 0.015,
    "kinesis.put_payload_units_per_million": 0.014,
    "kinesis.on_demand_stream_hour": 0.04,
    "kinesis.on_demand_data_in_per_gb": 0.08,
    "kinesis.on_demand_data_out_per_gb": 0.04,
    "firehose.ingest_per_gb": 0.029,
    "firehose.vpc_delivery_az_hour": 0.01,
    "firehose.vpc_delivery_per_gb": 0.01,
    "lambda.gb_second": 0.0000166667,
    "lambda.requests_per_million": 0.2,
    "logs.ingest_per_gb": 0.5,
    "cloudwatch.custom_metric_month": 0.3,
    "cloudwatch.alarm_month": 0.1,
    "ec2.detailed_monitoring_instance_month": 2.1,
    "s3.storage_gb_month": 0.023,
    "s3.put_per_thousand": 0.005,
    "s3.get_per_thousand": 0.0004,
    "dynamodb.write_request_units_per_million": 0.625,
    "dynamodb.read_request_units_per_million": 0.125,
    "athena.per_tb_scanned": 5.0,
    "opensearch.instance_hour.t3.small.search": 0.036,
    "opensearch.gp3_gb_month": 0.122,
    "vpc.interface_endpoint_az_hour": 0.01,
    "ec2.instance_hour.t3.nano": 0.0052,
    "ebs.gp3_gb_month": 0.08,
    "kms.key_month": 1.0,
    "secretsmanager.secret_month": 0.4,
}
P = PriceList(
    region="us-east-1",
    checked="2026-12-02",
    hours_per_month=730,
    prices={k: Price(v, "https://example.invalid", "2026-12-02", "test") for k, v in HAND.items()},
)
ONE_DEVICE_MONTH = 2_628_000  # one reading a second for 730 hours
GIB = 1024**3


def test_iot_core_one_device_at_1_hz():
    # 43,800 connection-minutes x 0.08/M = 0.003504; 2.628 M messages x 1.00/M = 2.628;
    # 2.628 M rules x 0.15/M = 0.3942 and as many actions x 0.15/M = 0.3942.
    kwargs = {"devices": 1, "readings": ONE_DEVICE_MONTH, "message_units": 1, "rule_actions": 1}
    billed = services.iot_core(P, basic_ingest=False, **kwargs)
    assert billed == pytest.approx(0.003504 + 2.628 + 0.3942 + 0.3942)
    basic = services.iot_core(P, basic_ingest=True, **kwargs)
    assert basic == pytest.approx(0.003504 + 0.3942 + 0.3942)  # no messaging charge


def test_iot_core_meters_larger_messages_in_more_units():
    two = services.iot_core(
        P, devices=0, readings=1_000_000, message_units=2, basic_ingest=False, rule_actions=1
    )
    assert two == pytest.approx(2 * 1.0 + 2 * 0.15 + 2 * 0.15)


def test_kinesis_provisioned_one_shard_and_put_units():
    # 730 shard-hours x 0.015 = 10.95; 2.628 M PUT payload units x 0.014/M = 0.036792.
    cost = services.kinesis(
        P, mode="PROVISIONED", shards=1, records=ONE_DEVICE_MONTH, record_bytes=388, consumers=3
    )
    assert cost == pytest.approx(10.95 + 0.036792)


def test_kinesis_on_demand_stream_hours_and_gigabytes_in_and_out():
    # 730 x 0.04 = 29.20; 2.628 M records of 388 B billed as 1 KiB: 2.50626 GiB in x 0.08,
    # and read by 3 consumers x 0.04.
    gib = ONE_DEVICE_MONTH * 1024 / GIB
    cost = services.kinesis(
        P, mode="ON_DEMAND", shards=4, records=ONE_DEVICE_MONTH, record_bytes=388, consumers=3
    )
    assert gib == pytest.approx(2.50626, rel=1e-5)
    assert cost == pytest.approx(29.2 + gib * 0.08 + gib * 3 * 0.04)


def test_firehose_rounds_records_to_5_kb_and_bills_vpc_delivery_by_zone_hour():
    # 2.628 M records of 388 B billed as 5 KiB: 12.5313 GiB x 0.029 = 0.363409.
    s3 = services.firehose(
        P, records=ONE_DEVICE_MONTH, record_bytes=388, vpc_zones=0, delivered_bytes=0
    )
    assert s3 == pytest.approx(0.363409, rel=1e-5)
    # Into a VPC in one zone: 730 x 0.01 = 7.30, and 1 GiB delivered x 0.01.
    vpc = services.firehose(
        P, records=ONE_DEVICE_MONTH, record_bytes=388, vpc_zones=1, delivered_bytes=GIB
    )
    assert vpc == pytest.approx(0.363409 + 7.30 + 0.01, rel=1e-5)


def test_lambda_requests_and_gb_seconds():
    # 1 M requests x 0.20/M + 10,000 GB-s x 0.0000166667.
    assert services.aws_lambda(P, invocations=1e6, gb_seconds=10_000) == pytest.approx(0.366667)


def test_cloudwatch_logs_alarms_and_metrics():
    assert services.cloudwatch_logs(P, ingested_bytes=2 * GIB) == pytest.approx(1.0)
    cost = services.cloudwatch(P, alarms=21, custom_metrics=7, monitored_instances=1)
    assert cost == pytest.approx(2.10 + 2.10 + 2.10)


def test_s3_requests_and_storage():
    # 43,800 PUTs x 0.005/1000 = 0.219; 10,000 GETs x 0.0004/1000 = 0.004; 1 GiB x 0.023.
    cost = services.s3(P, puts=43_800, gets=10_000, stored_bytes=GIB)
    assert cost == pytest.approx(0.219 + 0.004 + 0.023)


def test_dynamodb_on_demand_request_units():
    assert services.dynamodb(P, write_units=1e6, read_units=2e6) == pytest.approx(0.875)


def test_athena_per_terabyte():
    assert services.athena(P, billed_bytes=1024**4) == pytest.approx(5.0)


def test_opensearch_instance_hours_and_gp3_per_node():
    # 730 x 0.036 = 26.28 and 10 GiB x 0.122 = 1.22, per node.
    one = services.opensearch(
        P, instance_type="t3.small.search", instances=1, volume_gib=10, volume_type="gp3"
    )
    assert one == pytest.approx(27.50)
    two = services.opensearch(
        P, instance_type="t3.small.search", instances=2, volume_gib=9.2, volume_type="gp3"
    )
    assert two == pytest.approx(55.0)  # a volume is whole GiB
    with pytest.raises(KeyError, match=r"m9\.huge\.search"):
        services.opensearch(
            P, instance_type="m9.huge.search", instances=1, volume_gib=10, volume_type="gp3"
        )


def test_endpoints_tunnel_keys_and_secrets():
    assert services.vpc_endpoints(P, zone_endpoints=8) == pytest.approx(58.40)
    # t3.nano: 730 x 0.0052 = 3.796; 8 GiB gp3 x 0.08 = 0.64.
    assert services.ec2(P, instance_types=["t3.nano"], volume_gib=8) == pytest.approx(4.436)
    assert services.flat(P, kms_keys=2, secrets=1) == pytest.approx((2.0, 0.4))
