"""The clock guard with an injected clock check and an injected monotonic clock."""

import datetime as dt
import logging

import pytest

from device.clock import ClockStatus
from device.clock_guard import CLOCK_JUMP_FLAG, ClockGuard
from device.reading import Sample

T0 = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
LOST = ClockStatus(False, "the kernel says not synchronised (test)")
FOUND = ClockStatus(True, "the kernel says synchronised (test)")


class Monotonic:
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def scripted(*answers):
    """A clock check answering `answers` in turn, then the last one for ever."""
    queue = list(answers)

    def check():
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return check


def test_not_ready_while_not_synchronised_and_each_change_reported_once(caplog):
    caplog.set_level(logging.INFO, logger="device.clock_guard")
    changes = []
    mono = Monotonic()
    guard = ClockGuard(
        scripted(LOST, LOST, LOST, FOUND, FOUND, LOST, FOUND),
        jump_tolerance=2.0,
        interval=1.0,
        on_change=changes.append,
        monotonic=mono,
    )
    answers = []
    for _ in range(7):
        answers.append(guard.ready())
        mono.now += 1.0
    assert answers == [False, False, False, True, True, False, True]
    assert changes == [LOST, FOUND, LOST, FOUND]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # one line per change, not one per check
    assert lines[0].startswith("the system clock is not synchronised: the kernel says not")
    assert "No readings are taken until it is (checking every 1 s)" in lines[0]
    assert lines[1].startswith("the system clock is synchronised after 3 s without")
    assert "Sampling resumes" in lines[1]
    assert [r.levelname for r in caplog.records] == ["WARNING"] * 4


def test_a_clock_synchronised_from_the_start_is_logged_once_at_info(caplog):
    caplog.set_level(logging.INFO, logger="device.clock_guard")
    guard = ClockGuard(scripted(FOUND), jump_tolerance=2.0, interval=1.0)
    assert all(guard.ready() for _ in range(5))
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "synchronised: the kernel says synchronised (test)" in caplog.text


def test_without_a_check_sampling_never_waits():
    changes = []
    guard = ClockGuard(None, jump_tolerance=2.0, interval=1.0, on_change=changes.append)
    assert guard.ready() and not guard.checking
    assert changes == []


def sample(ts):
    return Sample(ts=ts, temperature_raw=30.0, humidity=40.0, pressure=1000.0)


@pytest.mark.parametrize(
    ("wall_step", "flagged"),
    [
        (1.0, False),  # as the monotonic clock moved
        (2.9, False),  # 1.9 s off: within the 2 s tolerance
        (3.1, True),  # 2.1 s ahead
        (3600.0, True),  # NTP stepped a clock started at the last shutdown's time
        (-1.5, True),  # 2.5 s back
    ],
)
def test_a_wall_clock_step_beyond_the_tolerance_flags_the_next_reading(wall_step, flagged):
    mono = Monotonic()
    guard = ClockGuard(None, jump_tolerance=2.0, interval=1.0, monotonic=mono)
    assert guard.stamp(sample(T0)).flags == ()
    mono.now += 1.0
    stamped = guard.stamp(sample(T0 + dt.timedelta(seconds=wall_step)))
    assert (CLOCK_JUMP_FLAG in stamped.flags) is flagged


def test_only_the_first_reading_after_a_jump_is_flagged_and_the_size_is_logged(caplog):
    mono = Monotonic()
    guard = ClockGuard(None, jump_tolerance=2.0, interval=1.0, monotonic=mono)
    flags = []
    for wall in (0.0, 1.0, 3601.0, 3602.0, 3603.0):
        flags.append(guard.stamp(sample(T0 + dt.timedelta(seconds=wall))).flags)
        mono.now += 1.0
    assert flags == [(), (), (CLOCK_JUMP_FLAG,), (), ()]
    assert "the system clock jumped by +3599.000 s between two samples" in caplog.text
    assert "(wall clock +3600.000 s, monotonic clock +1.000 s)" in caplog.text
    assert "the reading stamped 2024-06-01T13:00:01.000+00:00 is flagged clock_jump" in caplog.text


def test_a_sensor_flag_is_kept_next_to_clock_jump():
    mono = Monotonic()
    guard = ClockGuard(None, jump_tolerance=2.0, interval=1.0, monotonic=mono)
    guard.stamp(sample(T0))
    broken = Sample(ts=T0 + dt.timedelta(hours=1), flags=("imu_read_error",))
    assert guard.stamp(broken).flags == ("imu_read_error", CLOCK_JUMP_FLAG)


def test_the_comparison_starts_afresh_after_the_clock_was_lost():
    mono = Monotonic()
    guard = ClockGuard(
        scripted(FOUND, LOST, FOUND), jump_tolerance=2.0, interval=1.0, monotonic=mono
    )
    assert guard.ready()
    guard.stamp(sample(T0))
    mono.now += 1.0
    assert not guard.ready()  # meanwhile NTP steps the clock by an hour
    mono.now += 5.0
    assert guard.ready()
    # the step happened while no reading was taken: the wait is logged, nothing is flagged
    assert guard.stamp(sample(T0 + dt.timedelta(hours=1))).flags == ()
