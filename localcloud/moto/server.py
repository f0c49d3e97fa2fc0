"""AWS APIs (S3, DynamoDB, SQS, SNS, Glue, IoT registry, ...): moto in server mode, one request
at a time (see localcloud/moto/serial.py); Kinesis from kinesalite when `kinesis_upstream` is
given (else moto's own).

One `moto_server` process on 127.0.0.1. boto3 and the AWS CLI reach it through the standard
`AWS_ENDPOINT_URL` variable, so the code that runs in AWS runs here unchanged. With `state` it
keeps its data in that file across restarts (localcloud/moto/state.py): it saves it while it
runs and when it is stopped, also by the kernel's SIGTERM when the local cloud dies, and loads
it into the deployed resources on `restore()`.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from localcloud.core.aws import CREDENTIALS
from localcloud.core.ports import LOOPBACK
from localcloud.core.service import ServerProcess
from localcloud.moto import CHECKPOINTS_PATH, STATE_PATH


class MotoServer(ServerProcess):
    """A moto server subprocess on a loopback port; a context manager."""

    name = "moto"
    startup_seconds = 60.0

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        state: Path | None = None,
        kinesis_upstream: str | None = None,
    ) -> None:
        super().__init__(port, log_path)
        self.state = state
        self.kinesis_upstream = kinesis_upstream

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 and the AWS CLI at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def environment(self) -> dict[str, str]:
        return {"MOTO_ALLOW_NONEXISTENT_REGION": "true"}

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "localcloud.moto.serial", "-H", LOOPBACK]
        command += ["-p", str(self.port)]
        if self.state is not None:
            command += ["--state", str(self.state)]
        if self.kinesis_upstream is not None:
            command += ["--kinesis-upstream", self.kinesis_upstream]
        return command

    def restore(self) -> dict[str, Any]:
        """Load the state kept from the previous run into the deployed resources (once)."""
        return self._post(f"{STATE_PATH}/restore")

    def save(self) -> dict[str, Any]:
        """Write the state file now."""
        return self._post(f"{STATE_PATH}/save")

    def checkpoints(self, consumer: str) -> str:
        """Where the Kinesis consumers of kind `consumer` keep their checkpoints."""
        return f"{self.endpoint}{CHECKPOINTS_PATH}{consumer}"

    def _post(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.endpoint}{path}", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def reset(self) -> None:
        """Forget every resource (moto's reset API), keeping the process."""
        self._post("/moto-api/reset")
