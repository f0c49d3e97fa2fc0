"""`kill -9` of the whole local cloud while a device publishes, then `make up` again: every
reading the device was told was delivered (PUBACKed, and so deleted from its spool) is found in
raw/, once in the compacted table and once in search.

What carries the readings across the crash: the broker's persistence (mosquitto gets SIGTERM
from the kernel when the local cloud dies, and saves it), the stream's records (kinesalite, on
disk), moto's data and the consumers' checkpoints (one snapshot, saved on the same SIGTERM), the
search indices (the emulated OpenSearch's journal), and the ports (`.localcloud/ports.json`), so
the device reconnects by itself.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import boto3
import pytest
from faults_support import (
    STACK,
    Account,
    Pipeline,
    Publisher,
    fault_context,
    say,
    settle,
    synthesized,
    wait_for,
)

from localcloud.__main__ import serving_pid, up
from localcloud.iot.ca import DeviceCredentials, LocalCA

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEVICE = "fault-crash"
ROWS = 6_000
RATE = 300  # readings per second: the kill lands about a third of the way through


class DetachedCloud:
    """The parts of a running local cloud a publisher needs, read from its state directory:
    its endpoints (`env`) and device certificates from its CA (files, as a device gets them)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.stack = STACK  # its outputs.json names the telemetry topic

    def env(self) -> dict[str, str]:
        lines = (self.state_dir / "env").read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def service(self, _kind: object) -> DetachedCloud:
        return self

    def credentials(self, thing: str) -> DeviceCredentials:
        return LocalCA(self.state_dir / "ca").issue_device_certificate(thing)


class DetachedPipeline:
    """What `Publisher` needs of a pipeline, for a local cloud running in another process."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.cloud = DetachedCloud(work / "cloud")


def test_a_killed_local_cloud_loses_no_acknowledged_reading(tmp_path_factory):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    work = tmp_path_factory.mktemp("crash")
    state_dir = work / "cloud"
    saved = dict(os.environ)
    assert up(state_dir, cdk_out) == 0
    os.environ.clear()
    os.environ.update(saved)
    pid = serving_pid(state_dir)
    assert pid is not None

    detached = DetachedPipeline(work)
    replay = Pipeline.replay(detached, ROWS)  # type: ignore[arg-type]
    publisher = Publisher(detached, DEVICE, replay, RATE, {})  # type: ignore[arg-type]
    publisher.start()
    try:
        publisher.wait_pubacks(ROWS // 3, timeout=120)
        os.kill(pid, signal.SIGKILL)
        acknowledged = publisher.pubacks()
        say(f"local cloud (pid {pid}) killed after {acknowledged} PUBACKs")
        assert acknowledged < ROWS, "the publisher finished before the kill; publish slower"
        wait_for(lambda: serving_pid(state_dir) is None, 30, "the killed cloud gone", 0.2)
        time.sleep(1)  # the children's SIGTERM handlers save their state

        restarted_at = time.time()
        with Pipeline.running(work, cdk_out) as pipeline:  # `make up` again, in this process
            publisher.finish(timeout=300)  # it reconnected by itself and sent its spool
            expected = settle(pipeline, publisher, timeout=180)
            assert len(expected) == ROWS
            pipeline.wait_compacted(DEVICE, len(expected), timeout=300)
            account = Account.of(pipeline, DEVICE, expected)
            account.assert_complete()
            assert_streams_kept(restarted_at)
    finally:
        publisher.stop()


def assert_streams_kept(restarted_at: float) -> None:
    """The restarted cloud took the streams over, records and all, rather than making new ones."""
    kinesis = boto3.client("kinesis")
    for name in kinesis.list_streams()["StreamNames"]:
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        created = summary["StreamCreationTimestamp"].timestamp()
        assert created < restarted_at, f"{name} was made anew by the restarted cloud"
