"""The stack's template, synthesized in-process as `cdk synth` would (no CLI, no network), or
read from a `cdk.out` folder."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from cdk_app.config import PipelineSettings
from cdk_app.pipeline_stack import SensorPipelineStack


def synthesize(context: Mapping[str, Any]) -> dict[str, Any]:
    """The template of the stack app.py builds with this context (cdk.json's plus `-c`)."""
    with tempfile.TemporaryDirectory(prefix="cost-cdk-out-") as outdir:
        app = cdk.App(context=dict(context), outdir=outdir)
        stack_id = PipelineSettings.from_context(app.node).stack_id()
        stack = SensorPipelineStack(app, stack_id)
        assembly = app.synth()
        return dict(assembly.get_stack_by_name(stack.stack_name).template)


def read_template(cdk_out: Path, stack_id: str) -> dict[str, Any]:
    """A template `cdk synth` wrote: `<cdk.out>/<stack id>.template.json`."""
    path = cdk_out / f"{stack_id}.template.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))
