"""The local deployer: the synthesized template, deployed onto the local cloud.

`Deployer(template, clients, resource_types, env).deploy()` walks the template's resources in
dependency order, resolves each one's intrinsics and hands it to the handler of its type. The
handlers belong to the services (`<service>/resources.py`, merged by
`localcloud.core.registry.resource_types`): they create the resource against the local
endpoints (moto, the local Athena endpoint) or record it, with its resolved properties, for the
local runtime (functions, event source mappings, delivery streams, topic rules, notifications,
schedules, custom resources). A `Custom::` type without a handler of its own goes to the
`Custom::*` handler. Every other type is listed as not emulated, and its `Ref` and `Fn::GetAtt`
answer marked placeholders. Nothing here knows a setting of the pipeline or a service: all of it
comes from the template and the handlers.

Differences from AWS (each service's resources.py lists its own):
- Resources are created one after the other, never updated or deleted: a deployment is a
  fresh local cloud.
- KMS keys, VPCs, security groups, EC2 instances, CloudWatch alarms and dashboards are not
  emulated; they are listed when the deployer runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud.cloudformation.template import (
    Resolver,
    Resource,
    StackTemplate,
    TemplateError,
    physical_name,
)
from localcloud.core.aws import REGION, arn


@dataclass
class Deployment:
    """What was deployed: names and attributes, and what the local runtime must run."""

    stack: str
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    runtime: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # every function's props
    # Resources not emulated still answer Ref and Fn::GetAtt with a marked placeholder, so that
    # emulated resources referring to them (a function's VPC settings) can be deployed.
    placeholders: dict[str, str] = field(default_factory=dict)  # logical id -> type
    not_emulated: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def attribute(self, logical_id: str, name: str) -> Any:
        if (logical_id, name) in self.attributes:
            return self.attributes[(logical_id, name)]
        if logical_id in self.placeholders:
            if name.endswith("Arn"):  # ARN-shaped: IAM (moto) validates policy resources
                service = self.placeholders[logical_id].split("::")[1].lower()
                return arn(service, f"not-emulated/{logical_id}")
            return f"not-emulated:{logical_id}.{name}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{name} is not known locally")

    def logical_id_of_arn(self, arn: str) -> str:
        for (logical_id, name), value in self.attributes.items():
            if name == "Arn" and value == arn:
                return logical_id
        raise TemplateError(f"no locally deployed resource has the ARN {arn}")

    def summary(self) -> list[str]:
        lines = [f"deployed {len(ids):3d} x {kind}" for kind, ids in sorted(self.created.items())]
        lines += [
            f"runtime  {len(items):3d} x {kind}" for kind, items in sorted(self.runtime.items())
        ]
        lines += [
            f"not emulated: {kind} ({len(ids)})" for kind, ids in sorted(self.not_emulated.items())
        ]
        return lines


class Clients:
    """boto3 clients; endpoints come from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = boto3.client(service, region_name=REGION)
        return self._cache[service]


Outcome = dict[str, Any]
"""What a handler returns: `ref` (what `Ref` answers), `attributes` (for `Fn::GetAtt`), and
`skip` (why the resource is not emulated after all; it is listed with that reason)."""


class Deployer:
    def __init__(
        self,
        template: StackTemplate,
        clients: Clients,
        resource_types: Mapping[str, ResourceHandler],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.clients = clients
        self.resource_types = resource_types
        self.env = dict(env or {})  # the endpoints the running services published
        self.deployment = Deployment(stack=template.name)
        self.resolver = Resolver(template, self.deployment.refs, self.deployment.attribute)

    def handler(self, resource_type: str) -> ResourceHandler | None:
        """The handler of a type, or of its family (`Custom::*`)."""
        handler = self.resource_types.get(resource_type)
        if handler is None:
            handler = self.resource_types.get(resource_type.rsplit("::", 1)[0] + "::*")
        return handler

    def deploy(self) -> Deployment:
        for resource in self.template.in_dependency_order():
            handler = self.handler(resource.type)
            name = physical_name(self.template.name, resource.logical_id, resource.type)
            if handler is None:
                self.deployment.not_emulated[resource.type].append(resource.logical_id)
                self.deployment.refs[resource.logical_id] = f"not-emulated:{name}"
                self.deployment.placeholders[resource.logical_id] = resource.type
                continue
            props = self.resolver.resolve(resource.properties)
            outcome = handler(self, resource, props, name)
            if "ref" in outcome:  # also for what is not run: others may reference it
                self.deployment.refs[resource.logical_id] = outcome["ref"]
            for attr, value in outcome.get("attributes", {}).items():
                self.deployment.attributes[(resource.logical_id, attr)] = value
            if outcome.get("skip"):
                self.deployment.not_emulated[f"{resource.type} ({outcome['skip']})"].append(
                    resource.logical_id
                )
                continue
            self.deployment.created[resource.type].append(resource.logical_id)
        return self.deployment

    def record(self, resource: Resource, props: dict[str, Any], key: str | None = None) -> None:
        """Keep a resource's resolved properties for the service that runs it
        (`deployment.runtime[type][key]`, by logical id unless `key` says otherwise)."""
        self.deployment.runtime[resource.type][key or resource.logical_id] = props


ResourceHandler = Callable[[Deployer, Resource, dict[str, Any], str], Outcome]
"""Deploys one resource: `(deployer, resource, resolved properties, physical name) -> Outcome`."""
