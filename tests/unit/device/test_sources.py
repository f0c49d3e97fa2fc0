import datetime as dt
import itertools
from pathlib import Path

import pytest

from device.config import ASTRO_PI_COLUMNS, ConfigError, Settings, load_settings
from device.reading import build_reading, compensate
from device.sources import open_source
from device.sources.base import Pause
from device.sources.replay import ReplaySource, parse_time
from device.sources.sensehat import SenseHatReader, ticking
from device.sources.synthetic import SyntheticSource, fleet_names, raw_from_room

ROOT = Path(__file__).resolve().parents[3]
ASTRO_PI = ROOT / "data" / "astropi" / "astro_pi_data_20150824_085954.csv"


class FakeClock:
    def __init__(self, now=500.0):
        self.now = now

    def __call__(self):
        return self.now


def samples(items):
    return [i for i in items if not isinstance(i, Pause)]


def replay(path=ASTRO_PI, **kwargs):
    kwargs.setdefault("columns", ASTRO_PI_COLUMNS)
    kwargs.setdefault("device_name", "sensehat-01")
    return ReplaySource(path, **kwargs)


# -- replay ---------------------------------------------------------------------------------
def test_astro_pi_mapping_of_the_first_row():
    first = next(replay().items())
    assert first.ts == dt.datetime(2015, 8, 20, 23, 58, 30, tzinfo=dt.UTC)
    assert first.device_id == "sensehat-01"
    assert first.temperature_raw == 26.85  # temp_h
    assert first.cpu_temp == 35.51  # temp_cpu
    assert (first.humidity, first.pressure) == (60.50, 1021.76)
    assert (first.pitch, first.roll, first.yaw) == (359.05, 359.86, 258.99)
    reading = build_reading(first, "sensehat-01", 0)
    assert reading["temperature"] == compensate(26.85, 35.51, 1.5)
    assert reading["ts"] == "2015-08-20T23:58:30.000Z"


def test_the_whole_astro_pi_log_gives_24604_samples_without_pauses_at_speed_0():
    source = replay()
    items = list(source.items())
    assert len(items) == 24_604
    assert not [i for i in items if isinstance(i, Pause)]
    assert source.rejected == 0


def test_speed_paces_by_the_log_time(tmp_path):
    csv = tmp_path / "log.csv"
    csv.write_text(
        "when,t,h,p\n"
        "2024-01-01T00:00:00Z,20,50,1000\n"
        "2024-01-01T00:00:10Z,21,50,1000\n"
        "2024-01-01T00:01:00Z,22,50,1000\n"
    )
    clock = FakeClock(100.0)
    source = ReplaySource(
        csv,
        {"temperature": "t", "humidity": "h", "pressure": "p"},
        "dev",
        time_column="when",
        time_format="iso",
        speed=10,
        clock=clock,
    )
    pauses = [i.until for i in source.items() if isinstance(i, Pause)]
    assert pauses == [101.0, 106.0]


def test_bad_rows_are_rejected_or_flagged_never_silently_dropped(tmp_path, caplog):
    csv = tmp_path / "log.csv"
    csv.write_text(
        "time,device,t,h,p\n"
        "2024-01-01 00:00:00,dev-a,20,50,1000\n"
        "not a time,dev-a,20,50,1000\n"
        "2024-01-01 00:00:02,bad device!,20,50,1000\n"
        "2024-01-01 00:00:03,dev-b,warm,,1000\n"
    )
    source = ReplaySource(
        csv,
        {"temperature": "t", "humidity": "h", "pressure": "p"},
        "",
        time_column="time",
        device_column="device",
        timezone="Europe/London",
    )
    out = samples(source.items())
    assert [s.device_id for s in out] == ["dev-a", "dev-b"]
    assert source.rejected == 2
    assert "line 3 rejected" in caplog.text
    assert "line 4 rejected" in caplog.text
    assert out[1].temperature is None and out[1].flags == ("temperature_unparseable",)
    assert out[1].humidity is None
    assert build_reading(out[1], "dev-b", 0)["flags"] == [
        "temperature_unparseable",
        "temperature_missing",
        "humidity_missing",
    ]
    assert out[0].ts == dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)  # London is UTC in winter


def test_a_mapping_to_missing_columns_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"no column.*temp_x.*its columns are: ROW_ID"):
        replay(columns={**ASTRO_PI_COLUMNS, "temperature_raw": "temp_x"})


def test_time_formats():
    utc = dt.UTC
    assert parse_time("1440115110", "unix", utc) == dt.datetime(2015, 8, 20, 23, 58, 30, tzinfo=utc)
    assert parse_time("2015-08-21T01:58:30+02:00", "iso", utc).astimezone(utc).hour == 23
    with pytest.raises(ValueError, match="does not match format"):
        parse_time("20/08/2015", "%Y-%m-%d", utc)


# -- synthetic ------------------------------------------------------------------------------
START = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_fleet_names():
    assert fleet_names("pi", 1) == ["pi"]
    assert fleet_names("pi", 3) == ["pi-001", "pi-002", "pi-003"]


def test_synthetic_fleet_yields_count_rounds_for_every_device():
    source = SyntheticSource(fleet_names("pi", 3), count=4, speed=0, start=START)
    out = samples(source.items())
    assert [s.device_id for s in out] == ["pi-001", "pi-002", "pi-003"] * 4
    assert [s.ts for s in out[::3]] == [START + dt.timedelta(seconds=i) for i in range(4)]
    assert source.finite


def test_synthetic_is_deterministic_for_a_seed():
    def run(seed):
        return samples(
            SyntheticSource(["a", "b"], count=5, speed=0, start=START, seed=seed).items()
        )

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_synthetic_values_are_plausible_and_follow_a_daily_curve():
    source = SyntheticSource(["a"], interval=600, count=144, speed=0, start=START)
    day = samples(source.items())
    readings = [build_reading(s, "a", i) for i, s in enumerate(day)]
    assert not [r for r in readings if "flags" in r]
    temps = [r["temperature"] for r in readings]
    by_hour = {s.ts.hour: r["temperature"] for s, r in zip(day, readings, strict=True)}
    assert by_hour[15] > by_hour[3] + 2  # warmest in the afternoon
    assert min(temps) > 10
    assert max(temps) < 32
    assert all(r["temperature_raw"] > r["temperature"] + 5 for r in readings)  # the HAT reads warm


def test_compensation_recovers_the_synthetic_room_temperature():
    assert compensate(raw_from_room(21.0, 46.0, 1.5), 46.0, 1.5) == pytest.approx(21.0)


def test_synthetic_pauses_at_real_speed():
    clock = FakeClock()
    source = SyntheticSource(["a", "b"], interval=2, count=3, speed=1, start=START, clock=clock)
    pauses = [i.until for i in source.items() if isinstance(i, Pause)]
    assert pauses == [502.0, 504.0]


def test_infinite_synthetic_source():
    source = SyntheticSource(["a"], count=0, speed=0, start=START)
    assert not source.finite
    assert len(samples(itertools.islice(source.items(), 1000))) == 1000


# -- Sense HAT ------------------------------------------------------------------------------
class BrokenImu:
    def get_temperature_from_humidity(self):
        return 31.0

    def get_humidity(self):
        return 40.0

    def get_pressure(self):
        return 1000.0

    def get_orientation_degrees(self):
        raise OSError("I2C transfer failed")


def test_a_failing_sensor_is_flagged_not_fatal():
    sample = SenseHatReader(BrokenImu(), lambda: 50.0).read(START)
    assert sample.flags == ("imu_read_error",)
    assert sample.pitch is None
    assert sample.temperature_raw == 31.0 and sample.cpu_temp == 50.0


def test_ticking_keeps_a_fixed_schedule():
    clock = FakeClock(10.0)
    items = ticking(SenseHatReader(BrokenImu(), lambda: None), 1.0, clock=clock)
    assert next(items) == Pause(10.0)
    next(items)
    clock.now = 10.3
    assert next(items) == Pause(11.0)
    next(items)
    clock.now = 15.0  # reading took long: restart from now instead of catching up
    assert next(items) == Pause(15.0)


def test_sensehat_source_without_the_library_is_a_clear_config_error():
    settings = Settings()
    with pytest.raises(ConfigError, match="sudo apt install sense-hat"):
        open_source(settings)


def test_unknown_source_is_a_clear_config_error():
    settings = load_settings(None, environ={"DEVICE_SOURCE": "camera"})
    with pytest.raises(ConfigError, match="unknown source 'camera'"):
        open_source(settings)


# -- emulator (sense-emu, headless) -----------------------------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_emulator_source_reads_the_configured_values():
    env = {
        "DEVICE_SOURCE": "emulator",
        "DEVICE_THING_NAME": "desk",
        "DEVICE_EMULATOR_NOISE": "false",
        "DEVICE_EMULATOR_TEMPERATURE": "31",
        "DEVICE_EMULATOR_HUMIDITY": "42",
        "DEVICE_EMULATOR_PRESSURE": "990",
        "DEVICE_EMULATOR_CPU_TEMP": "46",
    }
    source = open_source(load_settings(None, environ=env))
    try:
        first = samples(itertools.islice(source.items(), 2))[0]
        reading = build_reading(first, "desk", 0)
        assert reading["temperature_raw"] == pytest.approx(31, abs=0.1)
        assert reading["humidity"] == pytest.approx(42, abs=0.1)
        assert reading["pressure"] == pytest.approx(990, abs=0.1)
        assert reading["temperature"] == pytest.approx(31 - (46 - 31) / 1.5, abs=0.1)
        assert source.device_ids() == ["desk"]
        assert source.led_matrix() is not None
    finally:
        source.close()
