"""The local cloud enforces the template's IAM policies: with the compactor's
`athena:StartQueryExecution` taken out of its role's policy, a due batch is not compacted and the
compactor's log shows Athena's AccessDeniedException (the full pipeline with the template as it
is, which compacts, is tests/e2e/test_pipeline.py)."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.athena.resources import Athena
from localcloud.cloud import STACK, LocalCloud
from localcloud.cloudformation.resources import CloudFormation
from localcloud.lambda_.function import LambdaInvocationError
from localcloud.lambda_.resources import LambdaFunctions
from localcloud.moto.resources import Moto
from localcloud.opensearch.resources import OpenSearch
from tests.conftest import synthesize

pytestmark = pytest.mark.e2e

REMOVED = "athena:StartQueryExecution"
KEYS = [f"raw/dt=2026-12-01/hour=10/readings-{n}.gz" for n in (1, 2)]  # a full batch


def remove_permission(cdk_out: Path, role_prefix: str, action: str) -> None:
    """Take `action` out of the default policy of the role whose logical id starts with
    `role_prefix`, in the synthesized template (as if the grant had been forgotten)."""
    path = cdk_out / f"{STACK}.template.json"
    template = json.loads(path.read_text())
    removed = 0
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = [role.get("Ref", "") for role in resource["Properties"].get("Roles", [])]
        if not any(role.startswith(role_prefix) for role in roles):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if action in actions:
                statement["Action"] = [a for a in actions if a != action]
                removed += 1
    assert removed == 1, f"{action} is granted {removed} times to {role_prefix}*"
    path.write_text(json.dumps(template))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cdk_out = synthesize(tmp_path_factory.mktemp("cdk.out"), compactionThreshold=2)
    remove_permission(cdk_out, "CompactionCompactorRole", REMOVED)
    services = (Moto, Athena, OpenSearch, CloudFormation, LambdaFunctions)
    state = tmp_path_factory.mktemp("cloud")
    with LocalCloud(state, cdk_out, log=lambda _line: None, services=services) as running:
        yield running


def compactor(cloud: LocalCloud) -> tuple[str, dict[str, Any]]:
    functions = cloud.deployment.runtime["AWS::Lambda::Function"]
    return next(
        (logical_id, props)
        for logical_id, props in functions.items()
        if props["Handler"] == "compactor.handler.lambda_handler"
    )


def test_a_missing_grant_fails_the_local_pipeline_with_access_denied(cloud: LocalCloud) -> None:
    logical_id, props = compactor(cloud)
    bucket = props["Environment"]["Variables"]["DATA_BUCKET"]
    reading = {"device_id": "sensehat-01", "seq": 1, "ts": "2026-12-01T10:00:00.000Z"}
    body = gzip.compress(json.dumps(reading).encode() + b"\n")
    s3 = boto3.client("s3")
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    event = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-12-01T10:00:01.000Z",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": len(body), "sequencer": f"000{n}"},
                },
            }
            for n, key in enumerate(KEYS, 1)
        ]
    }
    function = cloud.service(LambdaFunctions).function(
        cloud.deployment.attribute(logical_id, "Arn")
    )
    with contextlib.suppress(LambdaInvocationError):  # a failed invocation is fine: the log
        function.invoke(event)  # says why
    log = (cloud.state_dir / "lambda" / f"{logical_id}.log").read_text()
    assert "AccessDeniedException" in log, log[-3000:]
    assert f"is not authorized to perform: {REMOVED}" in log
    compacted = s3.list_objects_v2(Bucket=bucket, Prefix="compacted/").get("KeyCount", 0)
    assert compacted == 0
