"""Kinesis Data Streams: `AWS::Kinesis::Stream`, and kinesalite's start-up (its data under
`<state_dir>/kinesis`, so streams and their records outlive a restart and a crash).

A stream kept from the previous run is taken over by the deployment as it is, with its records
and shards (its retention period is set to the template's): the delivery workers and event
source mappings carry on from their checkpoints. Records older than the retention period are
not returned (kinesalite applies `RetentionPeriodHours` when reading).
"""

from __future__ import annotations

import contextlib
from typing import Any

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.registry import CloudContext, ServerService
from localcloud.kinesis.kinesalite import KinesaliteServer

# A new on-demand stream has 4 MB/s of write throughput ("Quotas and limits", Kinesis Data
# Streams developer guide), a shard 1 MB/s: 4 shards.
ON_DEMAND_SHARDS = 4


def stream(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    stream = props.get("Name", name)
    mode = props.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    shards = ON_DEMAND_SHARDS if mode == "ON_DEMAND" else int(props.get("ShardCount", 1))
    kinesis = deploy.clients("kinesis")
    # a stream that exists was kept from the previous run, with its records
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=stream, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    hours = int(props.get("RetentionPeriodHours", 24))
    held = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    if hours > held["RetentionPeriodHours"]:
        kinesis.increase_stream_retention_period(StreamName=stream, RetentionPeriodHours=hours)
    elif hours < held["RetentionPeriodHours"]:
        kinesis.decrease_stream_retention_period(StreamName=stream, RetentionPeriodHours=hours)
    return {"ref": stream, "attributes": {"Arn": arn("kinesis", f"stream/{stream}")}}


RESOURCE_TYPES: dict[str, ResourceHandler] = {"AWS::Kinesis::Stream": stream}


class Kinesis(ServerService[KinesaliteServer]):
    """kinesalite, reached through the moto server's endpoint (which checks IAM first)."""

    stopping = "kinesalite (Kinesis)"

    label = "kinesis"
    resource_types = RESOURCE_TYPES

    def create(self, context: CloudContext) -> KinesaliteServer:
        return KinesaliteServer(
            context.port("kinesis"),
            path=context.state_dir / "kinesis",
            log_path=context.state_dir / "kinesis.log",
        )
