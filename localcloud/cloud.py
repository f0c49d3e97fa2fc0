"""The local cloud: the services of the registry started in order, the template deployed onto
them by one of them, the endpoints written down.

`LocalCloud(state_dir, cdk_out).start()` starts each service of `SERVICES` with the context they
share (`localcloud.core.registry`); each service package's `resources.py` says what its service
does at start-up and which CloudFormation types it deploys. Once all are running the endpoints
they published go to `<state_dir>/env` (CloudFormation writes the stack's outputs to
`<state_dir>/outputs.json`). `stop()` tells every service to stop, newest first, then waits for
each in the same order, one log line per service: the consumers (rule engine, delivery
workers, triggers, functions) before the services they use (broker, OpenSearch, Athena, moto,
kinesalite). The servers run in process groups of their own, so a Ctrl-C in the terminal
reaches only the local cloud's process, which stops them in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from localcloud.athena.resources import Athena
from localcloud.cloudformation.deployer import Deployment, ResourceHandler
from localcloud.cloudformation.resources import CloudFormation
from localcloud.cloudformation.template import StackTemplate
from localcloud.core.registry import CloudContext, CloudService, resource_types, service_of
from localcloud.core.service import Service
from localcloud.dashboards.resources import Dashboards
from localcloud.firehose.resources import Firehose
from localcloud.iot.resources import IotCore, IotRules
from localcloud.kinesis.resources import Kinesis
from localcloud.lambda_.resources import LambdaFunctions, LambdaTriggers
from localcloud.moto.resources import KeptData, Moto
from localcloud.opensearch.resources import OpenSearch, OpenSearchAccess

STACK = "SensorPipeline"
SERVICES: tuple[type[CloudService], ...] = (
    Kinesis,  # kinesalite, whose API moto serves
    Moto,  # the AWS APIs every later service and the deployer call
    Athena,
    OpenSearch,
    CloudFormation,  # deploys the template with every service's resource types
    KeptData,  # the previous run's data, into the resources just deployed
    OpenSearchAccess,  # the domain's access rules, before anything calls the domain
    IotCore,  # the broker's ACL comes from the deployed IoT policies
    LambdaFunctions,  # with the endpoints above in their environment; then custom resources
    # Kinesis mappings, bucket notifications, schedules: the notifications are in place before
    # anything writes to a bucket (in AWS they are deployed with the bucket)
    LambdaTriggers,
    Firehose,  # invokes its transformation function
    IotRules,  # writes to the streams Firehose reads
    Dashboards,  # draws the saved objects the set-up custom resource imported
)
RESOURCE_TYPES: dict[str, ResourceHandler] = resource_types(SERVICES)
S = TypeVar("S", bound=CloudService)


class LocalCloud(Service):
    def __init__(
        self,
        state_dir: Path,
        cdk_out: Path,
        stack: str = STACK,
        log: Callable[[str], None] = print,
        services: Sequence[type[CloudService]] = SERVICES,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.cdk_out = cdk_out.resolve()
        self.stack = stack
        self.log = log
        self.services = [kind() for kind in services]
        self.context: CloudContext | None = None

    def start(self) -> LocalCloud:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        template = StackTemplate.load(self.cdk_out, self.stack)
        self.context = CloudContext(self.state_dir, template, self.services, self.log)
        for service in self.services:
            service.start(self.context)
        self.write_env()
        return self

    def service(self, kind: type[S]) -> S:
        """The service of a kind: `cloud.service(Firehose).workers`."""
        return service_of(self.services, kind)

    @property
    def deployment(self) -> Deployment:
        return self._running().deployed

    def env(self) -> dict[str, str]:
        """The endpoints, credentials and region the services published."""
        return dict(self._running().env)

    def _running(self) -> CloudContext:
        if self.context is None:
            raise RuntimeError("the local cloud is not running")
        return self.context

    def write_env(self) -> Path:
        """`<state_dir>/env`: one `NAME=value` line per published variable."""
        path = self.state_dir / "env"
        lines = [f"{key}={value}" for key, value in self.env().items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def stop(self) -> None:
        """Every service is told to stop, newest first (the rule engine before the delivery
        workers, which flush what they buffered), then each is waited for in that order."""
        for service in reversed(self.services):
            service.signal_stop()
        for service in reversed(self.services):
            if service.stopping:
                self.log(f"stopping {service.stopping}")
            service.stop()
