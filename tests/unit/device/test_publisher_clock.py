"""The publisher and the system clock: an injected clock check, a source stamping readings with
(scripted) wall-clock times, and an in-memory link acknowledging every publish at once."""

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from device_fakes import AckingLink, OnePiSource, device_env

from device.clock import ClockStatus
from device.config import ConfigError, load_settings, validate
from device.display import State
from device.publisher import Publisher
from device.reading import Sample
from device.sources.synthetic import SyntheticSource
from device.spool import Spool
from device.status import format_status, status_report
from validator.reading import parse_payload, validate_reading

T0 = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
LOST = ClockStatus(False, "the clock reads 1970-01-01T00:00:42+00:00, before the floor date")
FOUND = ClockStatus(True, "the kernel says synchronised (test)")


class Display:
    """Records the pictures; `seen` is set once a given state was shown."""

    matrix = object()  # as with LEDs: alert lines at INFO

    def __init__(self, wanted=State.CLOCK_NOT_SYNCHRONISED):
        self.shown = []
        self.wanted = wanted
        self.seen = threading.Event()

    def show(self, state, backlog=0):
        self.shown.append(state)
        if state is self.wanted:
            self.seen.set()

    def clear(self):
        self.shown.append(None)


class Clock:
    """A clock check that says "not synchronised" until `release` is set (at least `lost`
    times), then "synchronised"; it records each answer."""

    def __init__(self, lost=3, release=None):
        self.lost = lost
        if release is None:
            release = threading.Event()
            release.set()
        self.release = release
        self.answers = []

    def __call__(self):
        synced = len(self.answers) >= self.lost and self.release.is_set()
        self.answers.append(synced)
        return FOUND if synced else LOST


class StampedSource(OnePiSource):
    """A live source as the sensehat one: readings stamped with the wall clock (here `times`,
    or T0 for ever); it records whether the clock was synchronised at each sample."""

    name = "sensehat"
    finite = True
    uses_system_clock = True

    def __init__(self, clock=None, times=None):
        self.clock = clock
        self.times = times
        self.sampled_while = []

    def items(self):
        times = self.times if self.times is not None else iter(lambda: T0, None)
        for ts in times:
            if self.clock is not None:
                self.sampled_while.append(self.clock.answers[-1])
            yield Sample(ts=ts, temperature_raw=30, cpu_temp=45, humidity=40, pressure=1000)


@pytest.fixture
def env(tmp_path):
    return device_env(
        tmp_path,
        DEVICE_SOURCE="sensehat",
        DEVICE_INTERVAL_SECONDS="0.01",  # how often a waiting sampler asks the clock again
    )


def publish(settings, source, clock=None, display=None, stop=None):
    links = {}

    def factory(thing, credentials, on_event):
        links[thing] = AckingLink(thing)
        return links[thing]

    publisher = Publisher(
        settings, source, link_factory=factory, display=display or Display(), clock_check=clock
    )
    code = publisher.run(stop or threading.Event())
    readings = [json.loads(p) for link in links.values() for p in link.sent]
    return code, readings


def status_of(settings):
    return format_status(status_report(Path(settings.spool.path)))


def test_no_reading_is_taken_until_the_clock_is_synchronised(env, caplog):
    settings = load_settings(None, environ=env)
    display = Display()
    clock = Clock(lost=3, release=display.seen)  # synchronised once the LEDs said otherwise
    source = StampedSource(clock, times=[T0 + dt.timedelta(seconds=i) for i in range(3)])
    code, readings = publish(settings, source, clock, display)
    assert code == 0
    assert len(readings) == 3
    assert source.sampled_while == [True, True, True]  # never sampled with a wrong clock
    assert clock.answers[:3] == [False, False, False]
    # the log says it once per change, not once per check
    assert caplog.text.count("the system clock is not synchronised: the clock reads 1970") == 1
    assert caplog.text.count("the system clock is synchronised after") == 1
    assert "No readings are taken until it is (checking every 0.01 s)" in caplog.text
    # the clock picture, then the usual ones
    first = display.shown.index(State.CLOCK_NOT_SYNCHRONISED)
    assert State.CONNECTED in display.shown[first:]
    assert "clock:          synchronised (last known): the kernel says synchronised" in (
        status_of(settings)
    )


def test_status_and_leds_say_so_while_the_clock_is_not_synchronised(env):
    settings = load_settings(None, environ=env)
    display = Display()
    stop = threading.Event()
    clock = Clock(lost=10**9)  # never synchronised
    watcher = threading.Thread(target=lambda: display.seen.wait(30) and stop.set())
    watcher.start()
    code, readings = publish(settings, StampedSource(clock), clock, display, stop)
    watcher.join()
    assert code == 0 and readings == []
    assert State.CLOCK_NOT_SYNCHRONISED in display.shown
    text = status_of(settings)
    assert "clock:          not synchronised since " in text
    assert "(last known): the clock reads 1970-01-01T00:00:42+00:00, before the floor" in text
    spool = Spool(settings.spool.path)
    assert spool.size() == 0
    spool.close()


def test_a_clock_step_between_two_samples_flags_the_next_reading(env, caplog):
    settings = load_settings(None, environ=env)
    times = [T0, T0, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=1)]
    code, readings = publish(settings, StampedSource(times=times), Clock(lost=0))
    assert code == 0
    assert [r.get("flags", []) for r in readings] == [[], [], ["clock_jump"], []]
    assert "the system clock jumped by +3600.0" in caplog.text
    for reading in readings:  # the cloud's contract accepts the flag
        payload = json.dumps(reading).encode()
        validate_reading(parse_payload(payload), "pi")


def test_require_clock_sync_false_samples_at_once_and_still_flags_jumps(env):
    settings = load_settings(None, environ={**env, "DEVICE_REQUIRE_CLOCK_SYNC": "false"})
    clock = Clock(lost=10**9)  # would never let a reading through
    times = [T0, T0 - dt.timedelta(minutes=5)]
    code, readings = publish(settings, StampedSource(times=times), clock)
    assert code == 0
    assert clock.answers == []
    assert [r.get("flags", []) for r in readings] == [[], ["clock_jump"]]
    assert "clock:          not checked ([device] require_clock_sync = false)" in (
        status_of(settings)
    )


def test_sources_with_their_own_times_are_not_held_by_the_clock(env):
    settings = load_settings(None, environ={**env, "DEVICE_SOURCE": "synthetic"})
    clock = Clock(lost=10**9)
    source = SyntheticSource(
        ["pi"], count=5, speed=0, start=dt.datetime(2015, 8, 24, tzinfo=dt.UTC)
    )
    code, readings = publish(settings, source, clock)
    assert code == 0 and len(readings) == 5
    assert clock.answers == []
    assert all("flags" not in r for r in readings)
    assert "not checked (the synthetic source's times come from its data)" in status_of(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEVICE_CLOCK_FLOOR", "1st of January", "clock_floor '1st of January' is not an ISO"),
        ("DEVICE_CLOCK_JUMP_SECONDS", "0", "clock_jump_seconds must be > 0"),
        ("DEVICE_REQUIRE_CLOCK_SYNC", "maybe", "expected true or false"),
    ],
)
def test_bad_clock_settings_are_refused(env, variable, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(load_settings(None, environ={**env, variable: value}))
