"""Synthesize the real CDK app once per session: in-process for assertions, and with the pinned
CLI inside a network namespace with no interfaces for cfn-lint and the offline check."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.unit.cdk_app.support import ROOT, synth_stack


@pytest.fixture(scope="session")
def template() -> Template:
    app, stack = synth_stack()
    app.synth()  # raises if cdk-nag or CloudFormation validation report an error
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def make_template() -> Callable[..., Template]:
    def build(**overrides: Any) -> Template:
        app, stack = synth_stack(**overrides)
        app.synth()
        return Template.from_stack(stack)

    return build


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cdk synth` with the pinned CLI, as `make synth` runs it, with no network at all."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to prove synthesis is offline")
    out = tmp_path_factory.mktemp("cdk.out")
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PATH": f"{venv_bin}:{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}",
    }
    command = [unshare, "--map-root-user", "--net", "cdk", "--no-notices", "synth", "--quiet"]
    result = subprocess.run(
        [*command, "-o", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"offline cdk synth failed:\n{result.stdout}\n{result.stderr}"
    return out
