"""`python -m device publish` with the emulator source and a clock it must not trust: the floor
date is set after today, so the real clock check (device/clock.py) says "not synchronised"
whatever this machine's kernel says. Nothing is sampled; the log, `status` and the LEDs say
why."""

import signal

import pytest
from device_harness import emulated_pixels, rgb565, run_device, start_publisher, write_config

from device.display import State, render

pytestmark = pytest.mark.integration


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_unsynchronised_clock_stops_sampling_and_is_shown(tmp_path, broker, ca, observer):
    config = write_config(tmp_path / "c.toml", broker, ca, "desk-pi", "emulator")
    config.write_text(
        config.read_text().replace(
            'source = "emulator"',
            'source = "emulator"\ninterval_seconds = 0.1\nclock_floor = "2999-01-01"',
        )
    )
    log = tmp_path / "publisher.log"
    publisher = start_publisher(config, log)
    try:
        observer.wait_for(lambda: emulated_pixels() == rgb565(render(State.CLOCK_NOT_SYNCHRONISED)))
        observer.wait_for(
            lambda: "not synchronised since" in run_device("status", "--config", str(config)).stdout
        )
        observer.wait_for(lambda: "desk-pi connected" in log.read_text())
        status = run_device("status", "--config", str(config)).stdout
    finally:
        publisher.send_signal(signal.SIGTERM)
        assert publisher.wait(30) == 0, log.read_text()
    text = log.read_text()
    # checked ten times a second all along: one line in the log
    assert text.count("the system clock is not synchronised") == 1, text
    assert "before the floor date 2999-01-01 ([device] clock_floor)" in text
    assert "No readings are taken until it is (checking every 0.1 s)" in text
    assert "backlog:        0 readings" in status
    assert "clock:          not synchronised since " in status
    assert observer.readings("desk-pi") == []
    assert emulated_pixels() == [[0, 0, 0]] * 64  # cleared when stopped
