"""The publisher when its spool file fails mid-stream: deleted, or made unwritable (`chattr +i`,
which stops root too). It stops with exit code 74 and one error line naming the file."""

import logging
import os
import subprocess
import threading

import pytest
from device_fakes import AckingLink, OnePiSource, device_env

from device.config import load_settings
from device.display import State
from device.publisher import Publisher
from device.sources.synthetic import SyntheticSource
from device.spool import EXIT_SPOOL


class Display:
    matrix = None

    def __init__(self):
        self.shown = []

    def show(self, state, backlog=0):
        self.shown.append(state)

    def clear(self):
        self.shown.append(None)


class Sabotaged(OnePiSource):
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


@pytest.fixture
def settings(tmp_path):
    return load_settings(None, environ=device_env(tmp_path))


def run(settings, source):
    stop = threading.Event()
    guard = threading.Timer(60, stop.set)  # a publisher that failed to stop would hang the test
    guard.start()
    display = Display()
    try:
        code = Publisher(
            settings, source, link_factory=lambda t, c, e: AckingLink(t), display=display
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
