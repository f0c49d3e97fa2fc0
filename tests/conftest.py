"""Fixtures shared by every test: the repository root on sys.path, Lambda folders importable,
and a real moto server for integration tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# jsii (the CDK's bridge to Node) prints a banner on Node 20; the Makefile sets this too.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Each Lambda's asset folder is the root of its own import path, as in the Lambda runtime.
for folder in sorted((ROOT / "lambdas").glob("*/")):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from localcloud.aws_apis import MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server process for the test session."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A clean moto server, with boto3 pointed at it through the standard variables."""
    moto_server.reset()
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key in {"AWS_PROFILE"}:
            monkeypatch.delenv(key)
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    yield moto_server
