"""The local cloud's services: one `CloudService` per AWS service stood in for.

A service owns the CloudFormation resource types it deploys (`resource_types`: type -> handler,
called by the deployer's walk) and how it starts and stops. `localcloud.cloud.LocalCloud` starts
its services in the order of its list, each with the `CloudContext` the services share, and stops
them in reverse: first every service is told to stop (`signal_stop`, which does not wait), then
each one is stopped and waited for (`stop`).
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar

from localcloud.core.ports import reserved_port

if TYPE_CHECKING:
    from localcloud.cloudformation.deployer import Deployment, ResourceHandler
    from localcloud.cloudformation.template import StackTemplate

S = TypeVar("S", bound="CloudService")
T = TypeVar("T", bound="EndpointServer")


class CloudService:
    """One AWS service stood in for: its CloudFormation types, its start and its stop."""

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {}
    # What `stop` stops, for the local cloud's one line per step ("stopping <this>"); empty
    # when the service has nothing running.
    stopping: ClassVar[str] = ""

    def start(self, context: CloudContext) -> None:
        """Start; the services before this one in the list are running."""

    def signal_stop(self) -> None:
        """Ask what runs in the background to stop, without waiting for it."""

    def stop(self) -> None:
        """Stop and wait; also called when `start` failed or never ran."""


class EndpointServer(Protocol):
    """A local server with an endpoint: moto, the Athena API, the emulated OpenSearch."""

    @property
    def endpoint(self) -> str: ...

    def start(self) -> Self: ...

    def stop(self) -> None: ...

    def env(self) -> dict[str, str]: ...


class ServerService(CloudService, Generic[T]):
    """A service that is one local server: created, started, its endpoint variables published
    and logged as `<label> <endpoint>`; stopped with the cloud."""

    label: ClassVar[str]

    def __init__(self) -> None:
        self.server: T | None = None

    @abstractmethod
    def create(self, context: CloudContext) -> T:
        """The server, not started yet."""

    @property
    def endpoint(self) -> str:
        if self.server is None:
            raise RuntimeError(f"{self.label} is not running")
        return self.server.endpoint

    def start(self, context: CloudContext) -> None:
        self.server = self.create(context).start()
        context.publish(self.server.env())
        context.log(f"{self.label} {self.server.endpoint}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass
class CloudContext:
    """What the services of one local cloud share while they start."""

    state_dir: Path
    template: StackTemplate
    services: list[CloudService]
    log: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=dict)
    deployment: Deployment | None = None
    # The stack's Outputs, resolved by CloudFormation's start (also in <state_dir>/outputs.json).
    outputs: dict[str, Any] = field(default_factory=dict)

    def port(self, name: str) -> int:
        """Service `name`'s port, the same across restarts on this state directory."""
        return reserved_port(self.state_dir, name)

    def service(self, kind: type[S]) -> S:
        """The running service of a kind (`context.service(LambdaFunctions)`)."""
        return service_of(self.services, kind)

    @property
    def deployed(self) -> Deployment:
        if self.deployment is None:
            raise RuntimeError("the template is not deployed yet")
        return self.deployment

    def publish(self, variables: Mapping[str, str]) -> None:
        """Offer a service's endpoints: they go to `<state_dir>/env`, and the `AWS_*` ones also
        to this process (boto3 here reads them) and to the functions' environment."""
        self.env.update(variables)
        os.environ.update({k: v for k, v in variables.items() if k.startswith("AWS_")})

    def aws_env(self) -> dict[str, str]:
        """The `AWS_*` variables published so far: endpoints, credentials, region."""
        return {k: v for k, v in self.env.items() if k.startswith("AWS_")}


def resource_types(
    services: Iterable[CloudService | type[CloudService]],
) -> dict[str, ResourceHandler]:
    """Every service's CloudFormation types in one table; a type owned twice is an error."""
    merged: dict[str, ResourceHandler] = {}
    for service in services:
        for resource_type, handler in service.resource_types.items():
            if resource_type in merged:
                raise ValueError(f"{resource_type} is claimed by two services")
            merged[resource_type] = handler
    return merged


def service_of(services: Iterable[CloudService], kind: type[S]) -> S:
    """The one service of a kind among `services`."""
    for service in services:
        if isinstance(service, kind):
            return service
    raise LookupError(f"this local cloud runs no {kind.__name__}")
