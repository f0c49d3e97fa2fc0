"""The settings a deploy would use, read as the CDK app reads them.

The CDK CLI gives the app the context of `cdk.json` with each `-c key=value` of the command line
on top (split at the first `=`; the value stays a string, as the CLI passes it). app.py reads
that context through `PipelineSettings.from_context`; so does the preflight, with the same
arguments, so `make deploy ARGS="-c stage=dev"` checks the stack it deploys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdk_app.config import PipelineSettings

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"
CDK_OUT = ROOT / "cdk.out"
# The CDK's default bootstrap qualifier, unless the context sets another one.
QUALIFIER_KEY = "@aws-cdk/core:bootstrapQualifier"
DEFAULT_QUALIFIER = "hnb659fds"


class ContextArgumentError(ValueError):
    """A `-c` argument that is not `key=value`."""


@dataclass(frozen=True)
class Context:
    """cdk.json's context with the command line's overrides; a `ContextSource` for
    `PipelineSettings.from_context`."""

    values: Mapping[str, Any]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def try_get_context(self, key: str) -> Any:
        return self.values.get(key)

    def settings(self) -> PipelineSettings:
        """Every setting, validated as app.py validates it (SettingError names a bad key)."""
        return PipelineSettings.from_context(self)

    def bootstrap_qualifier(self) -> str:
        return str(self.values.get(QUALIFIER_KEY) or DEFAULT_QUALIFIER)


def parse_overrides(assignments: Sequence[str]) -> dict[str, str]:
    """`["stage=dev", "deviceNames=pi-1,pi-2"]` -> `{"stage": "dev", ...}`, as the CLI splits."""
    overrides: dict[str, str] = {}
    for assignment in assignments:
        key, equals, value = assignment.partition("=")
        if not equals or not key:
            raise ContextArgumentError(
                f"context argument {assignment!r} is not an assignment (-c key=value)"
            )
        overrides[key] = value
    return overrides


def load_context(overrides: Mapping[str, str], cdk_json: Path = CDK_JSON) -> Context:
    """cdk.json's `context`, each override on top."""
    base = json.loads(cdk_json.read_text())["context"]
    return Context(values={**base, **overrides}, overrides=dict(overrides))
