"""Athena's resources (workgroups, named queries) and the start of the local Athena endpoint.

Workgroups and named queries are created through the local Athena endpoint's own API, so they
are there as the template says when a query runs.
"""

from __future__ import annotations

from typing import Any

from localcloud.athena.server import AthenaServer
from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.registry import CloudContext, CloudService


def workgroup(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    workgroup = props.get("Name", name)
    deploy.clients("athena").create_work_group(
        Name=workgroup,
        Configuration=props.get("WorkGroupConfiguration", {}),
        Description=props.get("Description", ""),
    )
    return {"ref": workgroup}


def named_query(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    response = deploy.clients("athena").create_named_query(
        Name=props.get("Name", name),
        Database=props["Database"],
        QueryString=props["QueryString"],
        Description=props.get("Description", ""),
        WorkGroup=props.get("WorkGroup", "primary"),
    )
    return {"ref": response["NamedQueryId"]}


RESOURCE_TYPES: dict[str, ResourceHandler] = {
    "AWS::Athena::WorkGroup": workgroup,
    "AWS::Athena::NamedQuery": named_query,
}


class Athena(CloudService):
    """The local Athena endpoint (DuckDB over S3 and Glue in moto)."""

    resource_types = RESOURCE_TYPES

    def __init__(self) -> None:
        self.server: AthenaServer | None = None

    def start(self, context: CloudContext) -> None:
        self.server = AthenaServer(work_dir=context.state_dir / "athena").start()
        context.publish(self.server.env())
        context.log(f"Athena {self.server.endpoint}")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
