"""One formula per service: monthly dollars from usage and the price list.

Each takes plain quantities, so a test can check it against a hand-worked example.
"""

from __future__ import annotations

import math

from cdk_app.cost import meters
from cdk_app.cost.prices import PriceList
from cdk_app.cost.template_usage import StackFacts
from cdk_app.cost.usage import Usage
from cdk_app.cost.workload import PER_DEVICE_METRICS, ReadingSizes, custom_metric_names

MILLION = 1_000_000


def iot_core(
    p: PriceList,
    *,
    devices: int,
    readings: float,
    message_units: int,
    basic_ingest: bool,
    rule_actions: int,
) -> float:
    """Connection minutes, messages (none through Basic Ingest), rules triggered and actions."""
    minutes = p.hours_per_month * 60
    connectivity = devices * minutes * p["iot.connectivity_per_million_minutes"] / MILLION
    messaging = 0.0 if basic_ingest else readings * message_units * p["iot.messages_per_million"]
    rules = readings * message_units * p["iot.rules_triggered_per_million"]
    actions = readings * message_units * rule_actions * p["iot.actions_executed_per_million"]
    return connectivity + (messaging + rules + actions) / MILLION


def kinesis(
    p: PriceList, *, mode: str, shards: int, records: float, record_bytes: int, consumers: int
) -> float:
    """Provisioned: shard-hours and 25 KB PUT payload units. On demand: stream-hours, data in
    (each record rounded up to 1 KB) and data out to each consumer (rounded likewise)."""
    if mode == "PROVISIONED":
        units = records * meters.kinesis_put_payload_units(record_bytes)
        return (
            shards * p.hours_per_month * p["kinesis.shard_hour"]
            + units * p["kinesis.put_payload_units_per_million"] / MILLION
        )
    billed_gb = records * meters.kinesis_on_demand_billed_bytes(record_bytes) / meters.GB
    return (
        p.hours_per_month * p["kinesis.on_demand_stream_hour"]
        + billed_gb * p["kinesis.on_demand_data_in_per_gb"]
        + billed_gb * consumers * p["kinesis.on_demand_data_out_per_gb"]
    )


def firehose(
    p: PriceList, *, records: float, record_bytes: int, vpc_zones: int, delivered_bytes: float
) -> float:
    """One delivery stream: ingestion in 5 KB record units; VPC delivery by zone-hour and GB."""
    ingest = records * meters.firehose_billed_bytes(record_bytes) / meters.GB
    cost = ingest * p["firehose.ingest_per_gb"]
    if vpc_zones:
        cost += vpc_zones * p.hours_per_month * p["firehose.vpc_delivery_az_hour"]
        cost += delivered_bytes / meters.GB * p["firehose.vpc_delivery_per_gb"]
    return cost


def aws_lambda(p: PriceList, *, invocations: float, gb_seconds: float) -> float:
    return (
        invocations * p["lambda.requests_per_million"] / MILLION
        + gb_seconds * p["lambda.gb_second"]
    )


def cloudwatch_logs(p: PriceList, *, ingested_bytes: float) -> float:
    return ingested_bytes / meters.GB * p["logs.ingest_per_gb"]


def cloudwatch(
    p: PriceList, *, alarms: int, custom_metrics: int, monitored_instances: int
) -> float:
    return (
        alarms * p["cloudwatch.alarm_month"]
        + custom_metrics * p["cloudwatch.custom_metric_month"]
        + monitored_instances * p["ec2.detailed_monitoring_instance_month"]
    )


def s3(p: PriceList, *, puts: float, gets: float, stored_bytes: float) -> float:
    return (
        puts / 1000 * p["s3.put_per_thousand"]
        + gets / 1000 * p["s3.get_per_thousand"]
        + stored_bytes / meters.GB * p["s3.storage_gb_month"]
    )


def dynamodb(p: PriceList, *, write_units: float, read_units: float) -> float:
    return (
        write_units * p["dynamodb.write_request_units_per_million"]
        + read_units * p["dynamodb.read_request_units_per_million"]
    ) / MILLION


def athena(p: PriceList, *, billed_bytes: float) -> float:
    return billed_bytes / meters.TB * p["athena.per_tb_scanned"]


def opensearch(
    p: PriceList, *, instance_type: str, instances: int, volume_gib: float, volume_type: str
) -> float:
    if volume_type != "gp3":
        raise ValueError(f"OpenSearch volume type {volume_type}: only gp3 is priced")
    hourly = p[f"opensearch.instance_hour.{instance_type}"]
    return instances * (
        hourly * p.hours_per_month + math.ceil(volume_gib) * p["opensearch.gp3_gb_month"]
    )


def vpc_endpoints(p: PriceList, *, zone_endpoints: int) -> float:
    return zone_endpoints * p.hours_per_month * p["vpc.interface_endpoint_az_hour"]


def ec2(p: PriceList, *, instance_types: list[str], volume_gib: int) -> float:
    hourly = sum(p[f"ec2.instance_hour.{t}"] for t in instance_types)
    return hourly * p.hours_per_month + volume_gib * p["ebs.gp3_gb_month"]


def flat(p: PriceList, *, kms_keys: int, secrets: int) -> tuple[float, float]:
    return kms_keys * p["kms.key_month"], secrets * p["secretsmanager.secret_month"]


def custom_metrics(usage: Usage) -> int:
    """Powertools metrics exist in a month once their function ran: the compactor runs on its
    schedule; the validators and the alerter only when readings arrive. A metric with a
    `device_id` dimension (the hourly QualityScore) is one metric per device."""
    running = {f.name.split(" ")[0] for f in usage.functions if f.invocations > 0}
    count = 0
    for folder in sorted(running):
        names = custom_metric_names(folder)
        per_device = names & PER_DEVICE_METRICS.get(folder, frozenset())
        if folder == "compactor" and not usage.quality_per_device:
            names, per_device = names - per_device, set()
        count += len(names - per_device) + len(per_device) * usage.fleet.devices
    return count


def monthly_costs(
    facts: StackFacts, usage: Usage, sizes: ReadingSizes, p: PriceList
) -> dict[str, float]:
    """Every service's monthly cost for one fleet size."""
    fleet = usage.fleet
    topic = sizes.topic(facts.basic_ingest)
    firehose_cost = sum(
        firehose(
            p,
            records=fleet.readings,
            record_bytes=sizes.envelope_bytes,
            vpc_zones=f.vpc_zones,
            delivered_bytes=fleet.readings * sizes.document_bytes,
        )
        for f in facts.firehoses
    )
    search_volume = max(facts.search_volume_gib, usage.search_volume_gib_needed)
    kms, secrets = flat(p, kms_keys=facts.kms_keys, secrets=facts.secrets)
    return {
        "IoT Core": iot_core(
            p,
            devices=fleet.devices,
            readings=fleet.readings,
            message_units=meters.iot_message_units(sizes.payload_bytes, topic),
            basic_ingest=facts.basic_ingest,
            rule_actions=facts.rule_actions,
        ),
        "Kinesis Data Streams": kinesis(
            p,
            mode=facts.kinesis_mode,
            shards=usage.shards,
            records=fleet.readings,
            record_bytes=sizes.envelope_bytes,
            consumers=facts.kinesis_consumers,
        ),
        "Data Firehose": firehose_cost,
        "Lambda": sum(
            aws_lambda(p, invocations=f.invocations, gb_seconds=f.gb_seconds)
            for f in usage.functions
        ),
        "CloudWatch Logs": cloudwatch_logs(p, ingested_bytes=usage.log_bytes),
        "CloudWatch alarms, metrics": cloudwatch(
            p,
            alarms=facts.alarms,
            custom_metrics=custom_metrics(usage),
            monitored_instances=sum(1 for i in facts.instances if i.detailed_monitoring),
        ),
        "S3": s3(p, puts=usage.s3_puts, gets=usage.s3_gets, stored_bytes=usage.s3_stored_bytes),
        "DynamoDB": dynamodb(p, write_units=usage.dynamodb_wru, read_units=usage.dynamodb_rru),
        "Athena": athena(p, billed_bytes=usage.athena_billed_bytes),
        "OpenSearch": opensearch(
            p,
            instance_type=facts.search_instance_type,
            instances=facts.search_instance_count,
            volume_gib=search_volume,
            volume_type=facts.search_volume_type,
        ),
        "VPC interface endpoints": vpc_endpoints(
            p, zone_endpoints=facts.interface_endpoint_zone_hours_per_hour
        ),
        "EC2 (Dashboards tunnel)": ec2(
            p,
            instance_types=[i.instance_type for i in facts.instances],
            volume_gib=sum(i.volume_gib for i in facts.instances),
        ),
        "KMS keys": kms,
        "Secrets Manager": secrets,
    }
