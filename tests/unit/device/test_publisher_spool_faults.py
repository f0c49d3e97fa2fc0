"""The publisher when its spool file fails mid-stream: deleted, or made unwritable (`chattr +i`,
which stops root too). It stops with exit code 74 and one error line naming the file."""

import concurrent.futures
import logging
import os
import subprocess
import threading
from types import SimpleNamespace

import pytest
from awscrt import mqtt5

from device.config import load_settings
from device.display import State
from device.publisher import Publisher
from device.sources.synthetic import SyntheticSource
from device.spool import EXIT_SPOOL


class Link:
    def __init__(self, thing):
        self.thing_name = thing
        self.topic = f"sensors/{thing}/telemetry"
        self.connected = True

    def start(self):
        pass

    def stop(self):
        pass

    def publish(self, payload):
        future = concurrent.futures.Future()
        code = mqtt5.PubackReasonCode.SUCCESS
        future.set_result(SimpleNamespace(puback=SimpleNamespace(reason_code=code)))
        return future


class Display:
    matrix = None

    def __init__(self):
        self.shown = []

    def show(self, state, backlog=0):
        self.shown.append(state)

    def clear(self):
        self.shown.append(None)


class Sabotaged:
    """An endless synthetic source that calls `act` once, after `after` samples."""

    name = "synthetic"
    finite = False
    uses_system_clock = False

    def __init__(self, act, after=200):
        self.act = act
        self.after = after

    def items(self):
        for i, item in enumerate(SyntheticSource(["pi"], count=0, speed=0).items()):
            if i == self.after:
                self.act()
            yield item

    def device_ids(self):
        return ["pi"]

    def led_matrix(self):
        return None

    def close(self):
        pass


@pytest.fixture
def settings(tmp_path):
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("pem")
    env = {
        "DEVICE_THING_NAME": "pi",
        "DEVICE_SOURCE": "synthetic",
        "DEVICE_MQTT_ENDPOINT": "localhost",
        "DEVICE_MQTT_CERTIFICATE": str(tmp_path / "cert.pem"),
        "DEVICE_MQTT_PRIVATE_KEY": str(tmp_path / "key.pem"),
        "DEVICE_MQTT_CA": str(tmp_path / "ca.pem"),
        "DEVICE_SPOOL_PATH": str(tmp_path / "spool.db"),
        "DEVICE_PUBLISH_RATE_PER_SECOND": "0",
    }
    return load_settings(None, environ=env)


def run(settings, source):
    stop = threading.Event()
    guard = threading.Timer(60, stop.set)  # a publisher that failed to stop would hang the test
    guard.start()
    display = Display()
    try:
        code = Publisher(
            settings, source, link_factory=lambda t, c, e: Link(t), display=display
        ).run(stop)
    finally:
        guard.cancel()
    assert not stop.is_set(), "the publisher did not stop on its own"
    return code, display


def errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_spool_deleted_mid_stream_stops_the_publisher_with_exit_74(settings, caplog):
    path = settings.spool.path
    code, display = run(settings, Sabotaged(lambda: os.unlink(path)))
    assert code == EXIT_SPOOL
    (line,) = errors(caplog)  # one line, no traceback
    assert line.startswith(f"spool {path}: cannot ")
    assert "the file was deleted while the publisher had it open" in line
    assert line.endswith("Stopping (exit 74); the systemd unit restarts it")
    assert display.shown[-1] is State.ERROR
    assert not os.path.exists(path)  # and nothing wrote a new one


@pytest.fixture
def make_immutable(settings):
    path = settings.spool.path
    made = []

    def act():
        result = subprocess.run(["chattr", "+i", path], capture_output=True, check=False)
        made.append(result.returncode == 0)

    yield act
    subprocess.run(["chattr", "-i", path], capture_output=True, check=False)
    if made and not made[0]:
        pytest.skip("chattr +i is not possible here")


def test_a_spool_made_unwritable_mid_stream_stops_the_publisher_with_exit_74(
    settings, caplog, make_immutable
):
    path = settings.spool.path
    code, display = run(settings, Sabotaged(make_immutable))
    assert code == EXIT_SPOOL
    (line,) = errors(caplog)
    assert line.startswith(f"spool {path}: cannot "), line
    assert "(SQLITE_IOERR" in line or "(SQLITE_READONLY" in line, line
    assert "root may not write spool.db: it is immutable or append-only" in line
    assert display.shown[-1] is State.ERROR
