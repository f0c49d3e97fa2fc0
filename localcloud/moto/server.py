"""AWS APIs (S3, DynamoDB, Kinesis, SQS, SNS, Glue, IoT registry, ...): moto in server mode,
one request at a time (see localcloud/moto/serial.py).

One `moto_server` process on 127.0.0.1. boto3 and the AWS CLI reach it through the standard
`AWS_ENDPOINT_URL` variable, so the code that runs in AWS runs here unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from localcloud.core.aws import CREDENTIALS
from localcloud.core.ports import LOOPBACK, free_port, wait_for_port
from localcloud.core.service import Service, dies_with_parent, stop_process


class MotoServer(Service):
    """A moto server subprocess on a loopback port; a context manager."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 and the AWS CLI at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self) -> MotoServer:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [sys.executable, "-m", "localcloud.moto.serial", "-H", LOOPBACK]
        self._process = subprocess.Popen(
            dies_with_parent([*command, "-p", str(self.port)]),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        wait_for_port(self.port, timeout=60)
        return self

    def reset(self) -> None:
        """Forget every resource (moto's reset API), keeping the process."""
        request = urllib.request.Request(  # noqa: S310 - our own loopback endpoint
            f"{self.endpoint}/moto-api/reset", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None
