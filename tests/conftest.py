"""Fixtures shared by every test: the repository root on sys.path, Lambda folders importable,
and a real moto server for integration tests."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
# jsii (the CDK's bridge to Node) prints a banner on Node 20; the Makefile sets this too.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Each Lambda's asset folder is the root of its own import path, as in the Lambda runtime.
for folder in sorted((ROOT / "lambdas").glob("*/")):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import aws_cdk as cdk  # noqa: E402

from cdk_app.pipeline_stack import SensorPipelineStack  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402


def synthesize(outdir: Path, **context_overrides: object) -> Path:
    """The real CDK app synthesized into `outdir` (templates and asset folders), as `cdk synth`
    writes cdk.out/ (including the asset metadata the CLI asks for, which the local cloud reads),
    with optional context overrides."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    cli = {"aws:cdk:enable-asset-metadata": True}
    app = cdk.App(outdir=str(outdir), context={**context, **context_overrides, **cli})
    SensorPipelineStack(app, "SensorPipeline")
    app.synth()
    return outdir


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthesized templates of the app as configured in cdk.json."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server process for the test session."""
    with MotoServer() as server:
        yield server


def point_boto3_at(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key in {"AWS_PROFILE"}:
            monkeypatch.delenv(key)
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto server, with boto3 pointed at it through the standard variables."""
    moto_server.reset()
    point_boto3_at(moto_server, monkeypatch)
    return moto_server


LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def role_session(statements: list[dict]) -> boto3.session.Session:
    """A boto3 session of a new role `fn-role` holding `statements` (session name `fn`), on the
    moto server boto3 points at: what a function's calls are authorized as."""
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName="fn-role", PolicyName="p", PolicyDocument=json.dumps(policy))
    credentials = boto3.client("sts").assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="fn"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
