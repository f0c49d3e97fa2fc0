"""The shipped Sense HAT log replayed through mosquitto, and the emulator source with its LEDs."""

import csv
import datetime as dt
import signal
import time
from pathlib import Path

import pytest
from device_harness import ROOT, emulated_pixels, rgb565, run_device, start_publisher, write_config
from sense_emu.lock import lock_filename

from device.display import State, render

pytestmark = pytest.mark.integration

ASTRO_PI = ROOT / "data" / "astropi" / "astro_pi_data_20150824_085954.csv"


def test_replay_of_the_shipped_log_publishes_exactly_its_24604_rows(tmp_path, broker, ca, observer):
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "sensehat-01",
        "replay",
        extra=f'[replay]\npath = "{ASTRO_PI}"\nspeed = 0\n',
    )
    began = time.monotonic()
    result = run_device("publish", "--config", str(config), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    observer.wait_for(lambda: len(observer.distinct("sensehat-01")) >= 24_604, timeout=120)
    print(f"replayed 24,604 rows in {time.monotonic() - began:.1f} s")
    arrived = {r["seq"]: r for r in observer.readings("sensehat-01")}
    assert len(arrived) == 24_604
    first = min(arrived)
    assert set(arrived) == set(range(first, first + 24_604))
    with ASTRO_PI.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for i in (0, 12_345, 24_603):  # spot checks of the mapping, end to end
        row, reading = rows[i], arrived[first + i]
        stamp = dt.datetime.strptime(row["time_stamp"], "%Y-%m-%d %H:%M:%S")
        assert reading["ts"] == stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert reading["temperature_raw"] == float(row["temp_h"])  # the precision it was given
        assert reading["cpu_temp"] == float(row["temp_cpu"])
        assert reading["humidity"] == float(row["humidity"])
        assert reading["pressure"] == float(row["pressure"])
    assert "read 24604 rows, rejected 0" in result.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_emulator_source_publishes_and_shows_its_state_on_the_leds(tmp_path, broker, ca, observer):
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "desk-pi",
        "emulator",
        extra="[emulator]\nnoise = false\ntemperature = 31.0\ncpu_temp = 46.0\n",
    )
    # The test machine's kernel may call its clock unsynchronised (a VM without NTP): this
    # test is about publishing; the clock has its own test below.
    text = config.read_text().replace(
        'source = "emulator"',
        'source = "emulator"\ninterval_seconds = 0.1\nrequire_clock_sync = false',
    )
    config.write_text(text)
    publisher = start_publisher(config, tmp_path / "publisher.log")
    try:
        observer.wait_for(lambda: len(observer.distinct("desk-pi")) >= 5, timeout=60)
        observer.wait_for(lambda: emulated_pixels() == rgb565(render(State.CONNECTED)), 20)
        status = run_device("status", "--config", str(config))
        assert "publisher:      running" in status.stdout
        assert "connection:     connected" in status.stdout
    finally:
        publisher.send_signal(signal.SIGTERM)
        assert publisher.wait(30) == 0
    assert emulated_pixels() == [[0, 0, 0]] * 64  # a stopped publisher does not look connected
    reading = observer.readings("desk-pi")[0]
    assert reading["temperature_raw"] == 31.0
    assert reading["temperature"] == 21.0  # 31 - (46 - 31) / 1.5
    assert "flags" not in reading
    # stopping leaves nothing behind: no lock held, so the next emulator run starts cleanly
    assert not Path(lock_filename()).exists()
