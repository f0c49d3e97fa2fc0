"""The clock check: injected kernel answers, marker files and wall clocks; one real adjtimex."""

import ctypes
import datetime as dt

import pytest

from device.clock import (
    STA_CLOCKERR,
    STA_UNSYNC,
    TIME_ERROR,
    KernelClock,
    Timex,
    check_clock,
    read_kernel_clock,
)

FLOOR = dt.date(2020, 1, 1)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
SYNCED = KernelClock(state=0, status=0x2001, maxerror_us=8_000)
BOOTED = KernelClock(state=TIME_ERROR, status=STA_UNSYNC, maxerror_us=16_000_000)


def check(tmp_path, kernel, now=NOW, marker=False):
    path = tmp_path / "synchronized"
    if marker:
        path.touch()
    return check_clock(FLOOR, now=lambda: now, kernel=lambda: kernel, marker=path)


def test_the_kernel_saying_synchronised_is_enough(tmp_path):
    status = check(tmp_path, SYNCED)
    assert status.synchronised
    assert "the kernel says synchronised" in status.detail


def test_time_error_with_the_largest_maxerror_is_not_synchronised(tmp_path):
    status = check(tmp_path, BOOTED)
    assert not status.synchronised
    assert "TIME_ERROR" in status.detail and "STA_UNSYNC" in status.detail
    assert "maxerror 16 s" in status.detail


def test_sta_unsync_with_a_small_maxerror_counts_as_synchronised(tmp_path):
    # chronyd without rtcsync: STA_UNSYNC stays set, maxerror is kept small
    chrony = KernelClock(state=TIME_ERROR, status=STA_UNSYNC, maxerror_us=250_000)
    assert check(tmp_path, chrony).synchronised


@pytest.mark.parametrize("state", [0, 1, 2, 3, 4])  # TIME_OK and the leap-second states
def test_every_state_but_time_error_is_synchronised(state):
    assert KernelClock(state=state, status=0, maxerror_us=16_000_000).synchronised


def test_the_timesyncd_marker_is_enough_when_the_kernel_disagrees(tmp_path):
    status = check(tmp_path, BOOTED, marker=True)
    assert status.synchronised
    assert "systemd-timesyncd" in status.detail


def test_a_clock_before_the_floor_date_is_never_synchronised(tmp_path):
    status = check(tmp_path, SYNCED, now=dt.datetime(1970, 1, 1, 0, 0, 42, tzinfo=dt.UTC))
    assert not status.synchronised
    assert "1970-01-01T00:00:42+00:00, before the floor date 2020-01-01" in status.detail
    assert not check(
        tmp_path, SYNCED, now=dt.datetime(2019, 12, 31, 23, 59, tzinfo=dt.UTC), marker=True
    ).synchronised


def test_without_adjtimex_only_the_floor_decides(tmp_path):
    status = check(tmp_path, "adjtimex failed: Operation not permitted")
    assert status.synchronised
    assert "no other evidence (adjtimex failed: Operation not permitted" in status.detail
    old = dt.datetime(2015, 8, 24, tzinfo=dt.UTC)
    assert not check(tmp_path, "adjtimex is not available", now=old).synchronised


def test_the_struct_matches_the_kernel_layout():
    # struct timex: int modes, 4 longs, int status, ... 11 ints of padding at the end
    long = ctypes.sizeof(ctypes.c_long)
    assert Timex.status.offset == 5 * long  # modes is padded to a long's alignment
    assert Timex.maxerror.offset == 3 * long
    assert ctypes.sizeof(Timex) == (208 if long == 8 else 128)


def test_this_machines_kernel_answers():
    seen = read_kernel_clock()
    assert isinstance(seen, KernelClock), seen
    assert seen.state in range(6)
    assert 0 <= seen.maxerror_us <= 16_000_000
    if seen.status & (STA_UNSYNC | STA_CLOCKERR):  # adjtimex(2): then the state is TIME_ERROR
        assert seen.state == TIME_ERROR
