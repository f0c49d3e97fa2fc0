"""CloudFormation as a service of the local cloud: the template deployed onto the services that
started before it, with the resource types of every service, and the stack's outputs.

Its start writes `<state_dir>/outputs.json`: the template's Outputs resolved against the local
deployment, in the shape `cdk deploy --outputs-file` writes (an output that refers to something
not emulated carries its placeholder).
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.cloudformation.deployer import Clients, Deployer
from localcloud.cloudformation.template import Resolver, TemplateError
from localcloud.core.registry import CloudContext, CloudService, resource_types


class CloudFormation(CloudService):
    """Deploys the template when it starts; owns no resource type of its own."""

    def start(self, context: CloudContext) -> None:
        deployer = Deployer(
            context.template, Clients(), resource_types(context.services), env=context.env
        )
        context.deployment = deployer.deploy()
        for line in context.deployment.summary():
            context.log(line)
        context.outputs = stack_outputs(context)
        outputs = {context.template.name: context.outputs}
        (context.state_dir / "outputs.json").write_text(json.dumps(outputs, indent=2) + "\n")


def stack_outputs(context: CloudContext) -> dict[str, Any]:
    """The template's Outputs, resolved against the local deployment."""
    deployment = context.deployed
    resolver = Resolver(context.template, deployment.refs, deployment.attribute)
    resolved: dict[str, Any] = {}
    for name, output in context.template.body.get("Outputs", {}).items():
        try:
            resolved[name] = resolver.resolve(output["Value"])
        except TemplateError as err:
            context.log(f"output {name} not resolved locally: {err}")
    return resolved
