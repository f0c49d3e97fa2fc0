"""Athena's resources (workgroups, named queries) and the start of the local Athena endpoint.

Workgroups and named queries are created through the local Athena endpoint's own API, so they
are there as the template says when a query runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from localcloud.athena.server import AthenaServer
from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.registry import CloudContext, ServerService


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


class Athena(ServerService[AthenaServer]):
    """The local Athena endpoint (DuckDB over S3 and Glue in moto)."""

    stopping = "the Athena endpoint"

    label = "Athena"
    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {
        "AWS::Athena::WorkGroup": workgroup,
        "AWS::Athena::NamedQuery": named_query,
    }

    def create(self, context: CloudContext) -> AthenaServer:
        return AthenaServer(context.port("athena"), work_dir=context.state_dir / "athena")
