"""The local cloud's children die with it, and `up`/`down` never trust a stale pid file.

A `kill -9` of the local cloud used to leave moto and mosquitto running as orphans: the orphan
broker kept acknowledging readings nothing would deliver, and `make up` refused to start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from localcloud.__main__ import down, serving_pid, up
from localcloud.core.ports import free_port
from localcloud.iot.broker import MosquittoBroker, reader_acl
from localcloud.iot.ca import LocalCA

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]

PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from localcloud.moto.server import MotoServer
    from localcloud.iot.broker import MosquittoBroker
    from localcloud.iot.ca import LocalCA

    work = Path(sys.argv[1])
    moto = MotoServer().start()
    broker = MosquittoBroker(work / "broker", LocalCA(work / "ca")).start()
    print(moto._process.pid, broker._process.pid, flush=True)
    time.sleep(600)
    """
)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"


def wait_until_gone(pids: list[int], timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def test_moto_and_mosquitto_die_with_a_killed_local_cloud(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = parent.stdout.readline()
        children = [int(pid) for pid in line.split()]
        assert len(children) == 2 and all(alive(pid) for pid in children), line
        parent.kill()  # SIGKILL: no shutdown code runs
        parent.wait(timeout=10)
        assert wait_until_gone(children) == []
    finally:
        parent.kill()
        parent.wait(timeout=10)


def fake_serve(state_dir: Path) -> subprocess.Popen[bytes]:
    """A process whose command line is `... localcloud serve --state-dir <state_dir>`."""
    code = "import time; time.sleep(120)"
    command = [sys.executable, "-c", code, "localcloud", "serve", "--state-dir", str(state_dir)]
    process = subprocess.Popen(command)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"serve" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # the new program's command line appears once it has been executed
    return process


def test_serving_pid_names_only_this_state_dirs_local_cloud(tmp_path):
    (tmp_path / "pid").write_text("not a number")
    assert serving_pid(tmp_path) is None
    stranger = subprocess.Popen(["sleep", "120"])
    ours = fake_serve(tmp_path)
    other = fake_serve(tmp_path / "elsewhere")
    try:
        for process, expected in ((stranger, None), (ours, ours.pid), (other, None)):
            (tmp_path / "pid").write_text(str(process.pid))
            assert serving_pid(tmp_path) == expected
    finally:
        for process in (stranger, ours, other):
            process.kill()
            process.wait()
    (tmp_path / "pid").write_text(str(ours.pid))  # now dead
    assert serving_pid(tmp_path) is None


def test_down_never_signals_a_process_that_reused_the_pid(tmp_path, capsys):
    stranger = subprocess.Popen(["sleep", "120"])
    try:
        (tmp_path / "pid").write_text(str(stranger.pid))
        assert down(tmp_path, timeout=5) == 0
        assert stranger.poll() is None, "down signalled a process that is not the local cloud"
        assert not (tmp_path / "pid").exists()
        out = capsys.readouterr().out
        assert "is gone" in out and "removing the stale pid file" in out
    finally:
        stranger.kill()
        stranger.wait()


def test_down_stops_the_local_cloud_it_names(tmp_path):
    ours = fake_serve(tmp_path)
    try:
        (tmp_path / "pid").write_text(str(ours.pid))
        down(tmp_path, timeout=0)
        assert ours.wait(timeout=10) == -signal.SIGTERM
    finally:
        ours.kill()
        ours.wait()


def test_up_after_a_crash_clears_the_stale_pid_and_refuses_a_live_one(tmp_path, capsys):
    ours = fake_serve(tmp_path)
    try:
        (tmp_path / "pid").write_text(str(ours.pid))
        assert up(tmp_path, tmp_path / "no-cdk-out", timeout=5) == 1
        assert f"already running (pid {ours.pid})" in capsys.readouterr().out
    finally:
        ours.kill()
        ours.wait()
    # The cloud that wrote the pid file is gone: up removes the file and tries to start (and
    # fails here, there being no cdk.out, which it reports).
    assert up(tmp_path, tmp_path / "no-cdk-out", timeout=30) == 1
    out = capsys.readouterr().out
    assert "is gone" in out
    assert "did not start" in out
    assert os.path.exists(tmp_path / "localcloud.log")


BROKER_PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from localcloud.iot.broker import MosquittoBroker, reader_acl
    from localcloud.iot.ca import LocalCA

    work = Path(sys.argv[1])
    acl = ("pattern write sensors/%u/telemetry", *reader_acl("engine"))
    broker = MosquittoBroker(work / "broker", LocalCA(work / "ca"), int(sys.argv[2]), acl)
    broker.start()
    print(broker._process.pid, flush=True)
    time.sleep(600)
    """
)


def mqtt(tool: str, credentials, port: int, client_id: str, *args: str) -> list[str]:
    return [
        tool,
        "-V",
        "mqttv311",
        "-q",
        "1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--cafile",
        str(credentials.ca),
        "--cert",
        str(credentials.certificate),
        "--key",
        str(credentials.private_key),
        "-i",
        client_id,
        *args,
    ]


def test_messages_the_broker_acknowledged_survive_a_killed_local_cloud(tmp_path):
    """The broker gets SIGTERM when the local cloud dies, so it writes its persistence file: the
    readings it PUBACKed to a device and had not yet delivered to the rule engine's persistent
    session are delivered after the restart (with a SIGKILL they were lost with its memory),
    and the ones the engine had already received and acknowledged are not delivered again."""
    port = free_port()
    ca = LocalCA(tmp_path / "ca")
    engine, device = ca.issue_device_certificate("engine"), ca.issue_device_certificate("pi-1")
    topic = "sensors/pi-1/telemetry"
    parent = subprocess.Popen(
        [sys.executable, "-c", BROKER_PARENT, str(tmp_path), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        broker_pid = int(parent.stdout.readline())
        # The engine's persistent session (clean session off), subscribed, then away.
        subprocess.run(
            mqtt("mosquitto_sub", engine, port, "engine", "-c", "-t", topic, "-W", "1"),
            capture_output=True,
            check=False,
        )
        for n in range(10):
            sent = subprocess.run(
                mqtt("mosquitto_pub", device, port, "pi-1", "-t", topic, "-m", f"reading-{n}"),
                capture_output=True,
                text=True,
                check=False,
            )
            assert sent.returncode == 0, sent.stderr  # PUBACKed by the broker
            if n == 4:  # the engine takes (and acknowledges) the first five, then is away again
                take = mqtt("mosquitto_sub", engine, port, "engine", "-c", "-t", topic)
                # -W (a time limit), not -C: mosquitto_sub leaving at the count drops the PUBACKs
                # it has not flushed yet, and the broker rightly delivers those again (QoS 1).
                taken = subprocess.run(
                    [*take, "-W", "5"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert taken.stdout.split() == [f"reading-{k}" for k in range(5)], taken
        parent.kill()
        parent.wait(timeout=10)
        assert wait_until_gone([broker_pid]) == []
    finally:
        parent.kill()
        parent.wait(timeout=10)
    acl = ("pattern write sensors/%u/telemetry", *reader_acl("engine"))
    subscribe = mqtt("mosquitto_sub", engine, port, "engine", "-c", "-t", topic)
    with MosquittoBroker(tmp_path / "broker", ca, port, acl):
        received = subprocess.run(
            [*subscribe, "-W", "10"], capture_output=True, text=True, check=False
        )
    # Exactly the five the engine had not received: none lost, none of the first five again.
    assert received.stdout.split() == [f"reading-{n}" for n in range(5, 10)], received
