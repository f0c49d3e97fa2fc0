"""Firehose's resource type (`AWS::KinesisFirehose::DeliveryStream`) and its start-up: one
delivery worker per stream, which can be stopped and started again (the fault tests do).

The transformation Lambda is the running local function the stream names; an OpenSearch
destination is delivered to the emulated OpenSearch.

Each worker reads the source stream as a session of the source's role and writes to S3 as a
session of the destination's role (its S3 backup's for OpenSearch), so their policies are
enforced (localcloud/moto/authorization.py); the emulated OpenSearch does not check IAM, and the
transformation Lambda is invoked directly (`lambda:InvokeFunction` is not checked).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.iam import role_client, role_credentials
from localcloud.core.registry import CloudContext, CloudService
from localcloud.firehose.config import DeliveryStreamConfig
from localcloud.firehose.delivery import DeliveryWorker
from localcloud.kinesis.consumer import consumer_client
from localcloud.lambda_.resources import LambdaFunctions
from localcloud.moto.resources import Moto
from localcloud.opensearch.resources import OpenSearch

DELIVERY_STREAM: Final = "AWS::KinesisFirehose::DeliveryStream"


def delivery_stream(
    deploy: Deployer, resource: Resource, props: dict[str, Any], name: str
) -> Outcome:
    stream = props.get("DeliveryStreamName", name)
    deploy.record(resource, {**props, "DeliveryStreamName": stream})
    return {"ref": stream, "attributes": {"Arn": arn("firehose", f"deliverystream/{stream}")}}


def stream_roles(props: Mapping[str, Any]) -> tuple[str, str]:
    """The role that reads the Kinesis source and the one that writes to S3 (the destination's,
    or its S3 backup's for OpenSearch)."""
    source = str(props.get("KinesisStreamSourceConfiguration", {}).get("RoleARN", ""))
    destination = ""
    for key in ("ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"):
        destination = destination or str(props.get(key, {}).get("RoleARN", ""))
    opensearch = props.get("AmazonopensearchserviceDestinationConfiguration", {})
    destination = destination or str(opensearch.get("S3Configuration", {}).get("RoleARN", ""))
    destination = destination or str(opensearch.get("RoleARN", ""))
    return source, destination


class Firehose(CloudService):
    """The delivery workers, by delivery stream name."""

    stopping = "the Firehose delivery workers (they deliver what they buffered)"

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {DELIVERY_STREAM: delivery_stream}

    def __init__(self) -> None:
        self.workers: dict[str, DeliveryWorker] = {}
        self._runs: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._configs: dict[str, DeliveryStreamConfig] = {}
        self._roles: dict[str, tuple[str, str]] = {}  # (source, destination) role ARNs
        self._context: CloudContext | None = None

    def start(self, context: CloudContext) -> None:
        self._context = context
        deployment = context.deployed
        for logical_id, props in deployment.runtime[DELIVERY_STREAM].items():
            config = DeliveryStreamConfig.from_cfn_properties(
                logical_id, props, name=deployment.refs[logical_id]
            )
            self._configs[config.name] = config
            self._roles[config.name] = stream_roles(props)
            self.start_delivery_worker(config.name)

    def start_delivery_worker(self, name: str) -> DeliveryWorker:
        """Start the delivery worker of stream `name` (a new one after `stop_delivery_worker`):
        it resumes from the stream's checkpoint on disk."""
        if self._context is None:
            raise RuntimeError("Firehose is not started")
        config = self._configs[name]
        if name in self._runs:
            raise RuntimeError(f"the delivery worker of {name} is running")
        functions = self._context.service(LambdaFunctions)
        lambda_processor = config.destination.processing.lambda_processor
        processor = (
            functions.function(lambda_processor.lambda_arn).invoke if lambda_processor else None
        )
        source_role, destination_role = self._roles[name]
        worker = DeliveryWorker(
            config,
            s3_client=role_client("s3", destination_role, f"firehose-{name}"),
            kinesis_client=consumer_client(role_credentials(source_role, f"firehose-{name}")),
            processor=processor,
            opensearch_endpoint=self._context.service(OpenSearch).endpoint,
            checkpoints=self._context.service(Moto).checkpoints("firehose"),
            flush_on_stop=False,  # `stop_delivery_worker` decides
        )
        stop = threading.Event()
        self.workers[name] = worker
        self._runs[name] = (stop, worker.start(stop))
        return worker

    def stop_delivery_worker(self, name: str, *, flush: bool = False) -> None:
        """Stop the delivery worker of stream `name`. With `flush` it first delivers what it has
        buffered (a clean stop). Without, it stops as a killed process would: what it read but
        did not deliver is lost with it, its checkpoint has not moved past those records, and
        the next worker (`start_delivery_worker`) reads them again (at least once)."""
        stop, thread = self._runs.pop(name)
        stop.set()
        thread.join(timeout=60)
        if flush:
            log = self._context.log if self._context else print
            try:
                if not self.workers[name].flush():
                    log(f"{name}: stopped with an undelivered buffer")
            except Exception as err:
                log(f"{name}: the final flush failed: {err}")

    def signal_stop(self) -> None:
        for stop, _ in self._runs.values():
            stop.set()

    def stop(self) -> None:
        """Stop every worker; each delivers what it buffered."""
        for name in list(self._runs):
            self.stop_delivery_worker(name, flush=True)
