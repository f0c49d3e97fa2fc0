"""Helpers for the CDK tests: build the app as app.py does, and look into templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from cdk_app.pipeline_stack import SensorPipelineStack

ROOT = Path(__file__).resolve().parents[3]


def project_context(**overrides: Any) -> dict[str, Any]:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, **overrides}


def synth_stack(**overrides: Any) -> tuple[cdk.App, SensorPipelineStack]:
    """The app as app.py builds it (with cdk-nag), with context overrides."""
    app = cdk.App(context=project_context(**overrides))
    stack = SensorPipelineStack(app, "SensorPipeline")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def resources_of(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return template.find_resources(resource_type)


def function_of(template: Template, folder: str) -> dict[str, Any]:
    """The properties of the one Lambda function whose code is lambdas/<folder>/."""
    (function,) = [
        f["Properties"]
        for f in resources_of(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == f"{folder}.handler.lambda_handler"
    ]
    return function


def only(template: Template, resource_type: str) -> dict[str, Any]:
    found = resources_of(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))


def rendered(value: Any) -> str:
    """Fn::Join of literal strings and references, as text ({LogicalId} for references)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(rendered(p) for p in parts)
    if "Ref" in value:
        return "{" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "{" + ".".join(value["Fn::GetAtt"]) + "}"
    raise AssertionError(value)
