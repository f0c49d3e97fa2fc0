"""What a part of the pipeline costs per device: to say what dropping or changing it would save
when a goal is not met (nothing is dropped by the model)."""

from __future__ import annotations

from cdk_app.cost import meters, services
from cdk_app.cost.model import Estimate, FleetCost
from cdk_app.cost.prices import PriceList


def basic_ingest_saving(e: Estimate, fleet: FleetCost, p: PriceList) -> float:
    """Per device-month: the IoT messaging charge that Basic Ingest topics do not bill."""
    if e.facts.basic_ingest:
        return 0.0
    common = {
        "devices": fleet.devices,
        "readings": fleet.usage.fleet.readings,
        "rule_actions": e.facts.rule_actions,
    }
    billed = services.iot_core(
        p,
        message_units=meters.iot_message_units(e.sizes.payload_bytes, e.sizes.topic(False)),
        basic_ingest=False,
        **common,
    )
    basic = services.iot_core(
        p,
        message_units=meters.iot_message_units(e.sizes.payload_bytes, e.sizes.topic(True)),
        basic_ingest=True,
        **common,
    )
    return (billed - basic) / fleet.devices


def search_path_cost(e: Estimate, fleet: FleetCost, p: PriceList) -> float:
    """Per device-month, all in: Firehose #2 with its validator, the OpenSearch domain, and what
    exists for it in the VPC (interface endpoints, the Dashboards tunnel)."""
    search = e.facts.firehose("opensearch")
    stream = 0.0
    if search is not None:
        readings = fleet.usage.fleet.readings
        stream = services.firehose(
            p,
            records=readings,
            record_bytes=e.sizes.envelope_bytes,
            vpc_zones=search.vpc_zones,
            delivered_bytes=readings * e.sizes.document_bytes,
        )
    validator = sum(
        services.aws_lambda(p, invocations=f.invocations, gb_seconds=f.gb_seconds)
        for f in fleet.usage.functions
        if f.name == "validator (opensearch)"
    )
    s = fleet.services
    in_vpc = s["OpenSearch"] + s["VPC interface endpoints"] + s["EC2 (Dashboards tunnel)"]
    return (stream + validator + in_vpc) / fleet.devices
