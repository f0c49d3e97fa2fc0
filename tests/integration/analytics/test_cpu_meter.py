"""The load run's CPU meter: real processes below this one, read from /proc."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from demo.cpu import ROOT_PART, CpuMeter

pytestmark = pytest.mark.skipif(not CpuMeter().available, reason="needs Linux /proc")

# Burns 0.4 s of CPU; its command line ends with the rule engine's marker. It starts a child of
# its own (a grandchild of the test) that burns as long with the fleet's marker (put together, so
# that this command line does not hold it), waits for it, then sleeps until killed.
BURN = textwrap.dedent(
    """
    import subprocess, sys, time
    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], "demo." + "fleet"])
    burn(0.4)
    child.wait()
    print("done", flush=True)
    time.sleep(60)
    """
)
GRANDCHILD = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"


def test_processes_below_are_measured_by_part_and_an_ended_one_keeps_its_last_time():
    burn = time.process_time() + 1.0
    while time.process_time() < burn:  # used before the meter: not counted
        pass
    meter = CpuMeter()
    process = subprocess.Popen(
        [sys.executable, "-c", BURN, GRANDCHILD, "localcloud.iot.engine_process"],
        stdout=subprocess.PIPE,
    )
    try:
        grandchild_seen = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meter.sample()
            parts = meter.by_part()
            grandchild_seen |= parts.get("devices (publisher, spool, MQTT)", 0) > 0.2
            if grandchild_seen and parts.get("IoT rule engine", 0) >= 0.35:
                break
            time.sleep(0.05)
        assert process.stdout is not None and process.stdout.readline() == b"done\n"
        meter.sample()  # the grandchild has ended: its last sample stays
    finally:
        process.kill()
        process.wait()
    parts = meter.by_part()
    assert 0.35 <= parts["IoT rule engine"] < 2.0, parts
    assert 0.2 < parts["devices (publisher, spool, MQTT)"] < 2.0, parts
    assert 0 <= parts[ROOT_PART] < 1.0, parts  # this process: what it used before is not counted
    lines = meter.report(1000)
    assert lines[0].startswith("CPU by part over the run: ")
    assert any("ms a reading  IoT rule engine" in line for line in lines[1:]), lines


def test_a_process_that_exited_unreaped_keeps_its_part_and_time():
    meter = CpuMeter()
    process = subprocess.Popen([sys.executable, "-c", GRANDCHILD, "kinesalite"])
    try:
        stat = Path(f"/proc/{process.pid}/stat")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            meter.sample()  # the part is learnt while it runs
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":  # exited, not yet waited for: no command line any more
                break
            time.sleep(0.02)
        assert state == "Z"
        assert Path(f"/proc/{process.pid}/cmdline").read_bytes() == b""
        meter.sample()
    finally:
        process.wait()
    assert meter.by_part()["Kinesis (kinesalite)"] >= 0.35, meter.by_part()


def test_a_process_proc_does_not_show_is_reported_as_not_measured():
    beyond_pid_max = 2**22 + 1  # Linux's largest pid_max is 2**22
    assert CpuMeter(root=beyond_pid_max).report(10) == [
        "CPU by part: not measured (no /proc on this system)"
    ]
