"""The synthesized CloudFormation template as the local cloud reads it.

`cdk synth` writes `cdk.out/<Stack>.template.json`; this module loads it, orders its resources
by their dependencies, names them as CloudFormation would (deterministically), and resolves the
intrinsic functions CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::GetAZs,
Fn::Base64, Fn::Split, Fn::FindInMap), so every setting reaches the local cloud from the
template and nothing is typed twice.

Differences from AWS:
- Physical names are `<stack>-<logical id>` (lower-cased where a service requires it) instead of
  CloudFormation's random suffixes, so a local deployment is reproducible.
- Only the attributes the pipeline's template uses are known (`Arn`, `DomainEndpoint`, ...);
  an unknown one is an error that names it.
"""

from __future__ import annotations

import base64
import graphlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.core.aws import ACCOUNT_ID, PARTITION, REGION

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template uses something the local cloud cannot resolve; the message names it."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    metadata: dict[str, Any]
    depends_on: tuple[str, ...]


@dataclass
class StackTemplate:
    name: str
    body: dict[str, Any]
    cdk_out: Path
    resources: dict[str, Resource] = field(default_factory=dict)

    @classmethod
    def load(cls, cdk_out: Path, stack_name: str) -> StackTemplate:
        path = cdk_out / f"{stack_name}.template.json"
        if not path.is_file():
            raise TemplateError(f"{path} not found: run `make synth` first")
        body = json.loads(path.read_text(encoding="utf-8"))
        template = cls(name=stack_name, body=body, cdk_out=cdk_out)
        for logical_id, raw in body.get("Resources", {}).items():
            depends = raw.get("DependsOn", [])
            template.resources[logical_id] = Resource(
                logical_id=logical_id,
                type=raw["Type"],
                properties=raw.get("Properties", {}),
                metadata=raw.get("Metadata", {}),
                depends_on=tuple([depends] if isinstance(depends, str) else depends),
            )
        return template

    def in_dependency_order(self) -> Iterator[Resource]:
        """Resources after everything they reference (Ref, GetAtt, Sub, DependsOn)."""
        graph: dict[str, set[str]] = {}
        for resource in self.resources.values():
            needs = set(resource.depends_on) | _references(resource.properties)
            graph[resource.logical_id] = {n for n in needs if n in self.resources}
        for logical_id in graph_order(graph):
            yield self.resources[logical_id]

    def asset_dir(self, resource: Resource) -> Path:
        """The folder CDK staged a Lambda's code in (cdk.out/asset.<hash>)."""
        asset = resource.metadata.get("aws:asset:path")
        if not asset:
            raise TemplateError(f"{resource.logical_id} has no asset folder (inline code?)")
        return self.cdk_out / asset


def graph_order(graph: dict[str, set[str]]) -> list[str]:
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        raise TemplateError(f"circular dependency between resources: {err.args[1]}") from err


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {v.split(".")[0] for v in _SUB_VARIABLE.findall(text)}
                if isinstance(inner, list):
                    found |= _references(inner[1])
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def physical_name(stack: str, logical_id: str, resource_type: str) -> str:
    """A deterministic stand-in for CloudFormation's generated names."""
    name = f"{stack}-{logical_id}"
    if resource_type == "AWS::S3::Bucket":
        return name.lower()[:63]
    if resource_type == "AWS::Glue::Database":
        return name.lower().replace("-", "_")
    return name[:64]


AttributeLookup = Callable[[str, str], Any]


class Resolver:
    """Resolves intrinsic functions against the deployed resources.

    `refs` maps a logical id to what `Ref` returns; `attribute` answers `Fn::GetAtt`.
    """

    def __init__(
        self,
        template: StackTemplate,
        refs: dict[str, str],
        attribute: AttributeLookup,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.template = template
        self.refs = refs
        self.attribute = attribute
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": template.name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{template.name}/0",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
            **(parameters or {}),
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value if not _is_no_value(v)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(arg)
        return {k: self.resolve(v) for k, v in value.items() if not _is_no_value(v)}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": lambda arg: str(arg[0]).join(str(self.resolve(p)) for p in arg[1]),
            "Fn::Sub": self._sub,
            "Fn::Select": lambda arg: self.resolve(arg[1])[int(self.resolve(arg[0]))],
            "Fn::GetAZs": lambda _arg: [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
            "Fn::Base64": lambda arg: base64.b64encode(str(self.resolve(arg)).encode()).decode(),
            "Fn::Split": lambda arg: str(self.resolve(arg[1])).split(arg[0]),
            "Fn::FindInMap": self._find_in_map,
        }

    def _find_in_map(self, arg: list[Any]) -> Any:
        """The template's `Mappings` lookup; a missing key fails as CloudFormation fails the
        whole deploy before creating anything ("Unable to get mapping for ...")."""
        name, top, second = (str(self.resolve(part)) for part in arg[:3])
        try:
            return self.template.body.get("Mappings", {})[name][top][second]
        except KeyError:
            raise TemplateError(
                f"Template error: Unable to get mapping for {name}::{top}::{second}"
            ) from None

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        params = self.template.body.get("Parameters", {})
        if name in params and "Default" in params[name]:
            return params[name]["Default"]
        raise TemplateError(f"Ref to {name}, which is not deployed locally")

    def _get_att(self, arg: list[str] | str) -> Any:
        logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
        return self.attribute(logical_id, attr)

    def _sub(self, arg: str | list[Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        resolved = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return str(resolved[name])
            if "." in name:
                return str(self._get_att(name))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def _is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}
