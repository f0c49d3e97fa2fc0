"""Ctrl-C during `python -m localcloud demo`: the terminal sends SIGINT to the whole foreground
process group; the demo stops the publisher, then the local cloud's consumers, then its services,
one line per step, and exits with 130 without a traceback."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
# The first progress line after the publisher started (the demo prints it at once; on a quiet
# machine the publisher may be done before the next one, five seconds later).
PUBLISHING = re.compile(r"published \d+/\d+ .*\(publisher running\)")
STEPS = [
    "interrupted: stopping the publisher, then the local cloud",
    "stopping the publisher",
    "stopping the local dashboard",
    "stopping the IoT topic rule engine",
    "stopping the Firehose delivery workers",
    "stopping the Lambda triggers",
    "stopping the Lambda function workers",
    "stopping the MQTT broker",
    "stopping the emulated OpenSearch",
    "stopping the Athena endpoint",
    "stopping moto",
    "stopping kinesalite",
    "stopped",
]


def test_ctrl_c_while_publishing_stops_producer_consumers_services_without_tracebacks(tmp_path):
    where = ["--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "out")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "demo", "--rows", "10000", *where],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell's foreground job
    )
    before: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            before.append(line)
            if PUBLISHING.search(line):
                os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
                break
        else:
            pytest.fail("the demo never said its publisher was running:\n" + "".join(before))
        after, _ = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 130, after
    assert "Traceback" not in after
    lines = [line.split("] ", 1)[-1] for line in after.splitlines() if line.startswith("[demo ")]
    assert len(lines) == len(STEPS), after
    for line, step in zip(lines, STEPS, strict=True):
        assert line.startswith(step), after
    assert after.splitlines()[-1].endswith("] stopped"), after
