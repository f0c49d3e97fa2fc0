"""Is the system clock synchronised? The kernel's view, systemd-timesyncd's marker, a floor date.

A Raspberry Pi has no battery-backed clock: it boots at 1970, or at the time fake-hwclock or
systemd-timesyncd saved before the last shutdown, and keeps counting from there until NTP sets
it. Readings stamped meanwhile carry wrong times and vanish from every query, so the publisher
does not sample a live source until `check_clock` says the clock is synchronised.

`check_clock` decides in this order:

1. A wall clock before the floor date (`[device] clock_floor`, default 2020-01-01, the
   earliest date the cloud accepts) is not synchronised, whatever else says so.
2. The kernel, through adjtimex(2) with `modes = 0` (a pure read, which the man page allows any
   user). Its return value is the clock state: TIME_ERROR (5) means "not synchronized to a
   reliable server" and is returned while STA_UNSYNC or STA_CLOCKERR is set in `status` (or
   the PPS flags disagree); any other state (TIME_OK or a leap-second state) is synchronised.
   The kernel sets STA_UNSYNC at boot, and again once `maxerror`, which it grows by 500 ppm
   each second that no NTP daemon resets it, reaches 16 s; the daemon clears it. chronyd
   without `rtcsync` keeps STA_UNSYNC set on purpose (so the kernel leaves the RTC alone)
   while keeping `maxerror` small, so `maxerror` below 16 s also counts as synchronised; this
   is systemd-timedated's own test (`ntp_synced()`, the `NTPSynchronized` property).
3. systemd-timesyncd's marker `/run/systemd/timesync/synchronized`, which exists once it has
   synchronised the clock since boot (/run is a tmpfs); systemd-time-wait-sync(8) waits for it.

The clock is synchronised when step 1 passes and step 2 or 3 says so. If adjtimex cannot be
called (not Linux; a seccomp filter such as systemd's `ProtectClock=`, which refuses even the
read) and the marker is absent, there is no evidence either way and only the floor decides.

Every input is a parameter, so tests decide what the kernel, the marker and the clock say.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TIME_ERROR = 5  # adjtimex(2) clock state: not synchronised (TIME_BAD is a synonym)
STA_UNSYNC = 0x0040  # status bit: clock unsynchronised
STA_CLOCKERR = 0x1000  # status bit: clock hardware fault
MAXERROR_LIMIT_US = 16_000_000  # NTP_PHASE_LIMIT: the kernel's largest maxerror (16 s)
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
DEFAULT_FLOOR = "2020-01-01"


class Timex(ctypes.Structure):
    """`struct timex` of <sys/timex.h> (Linux, glibc and musl): `long` fields follow the
    platform's word size, so the layout holds on 32- and 64-bit Raspberry Pi OS alike."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class KernelClock:
    """What adjtimex(2) returned: the clock state, `status` bits and `maxerror` (us)."""

    state: int
    status: int
    maxerror_us: int

    @property
    def synchronised(self) -> bool:
        return self.state != TIME_ERROR or self.maxerror_us < MAXERROR_LIMIT_US

    def describe(self) -> str:
        bits = [
            n
            for n, b in (("STA_UNSYNC", STA_UNSYNC), ("STA_CLOCKERR", STA_CLOCKERR))
            if self.status & b
        ]
        state = "TIME_ERROR" if self.state == TIME_ERROR else f"state {self.state}"
        return (
            f"adjtimex: {state}, status {self.status:#06x}"
            + (f" ({', '.join(bits)})" if bits else "")
            + f", maxerror {self.maxerror_us / 1e6:g} s"
        )


def read_kernel_clock() -> KernelClock | str:
    """The kernel's clock state, or why it cannot be read (the text names the reason)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        adjtimex = libc.adjtimex
    except (OSError, AttributeError) as err:
        return f"adjtimex is not available: {err}"
    buf = Timex(modes=0)  # read only
    state = adjtimex(ctypes.byref(buf))
    if state < 0:
        errno = ctypes.get_errno()
        return f"adjtimex failed: {os.strerror(errno)}"
    return KernelClock(state=state, status=buf.status, maxerror_us=buf.maxerror)


@dataclass(frozen=True)
class ClockStatus:
    """Whether the clock may stamp readings, and the evidence (for the log and `status`)."""

    synchronised: bool
    detail: str


def check_clock(
    floor: dt.date,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    kernel: Callable[[], KernelClock | str] = read_kernel_clock,
    marker: Path = TIMESYNC_MARKER,
) -> ClockStatus:
    """The clock's status by the rules in the module docstring."""
    wall = now()
    if wall.date() < floor:
        return ClockStatus(
            False,
            f"the clock reads {wall.isoformat(timespec='seconds')}, before the floor date "
            f"{floor.isoformat()} ([device] clock_floor)",
        )
    seen = kernel()
    if isinstance(seen, KernelClock) and seen.synchronised:
        return ClockStatus(True, f"the kernel says synchronised ({seen.describe()})")
    if marker.exists():
        return ClockStatus(True, f"systemd-timesyncd has synchronised it ({marker} exists)")
    if isinstance(seen, KernelClock):
        return ClockStatus(False, f"the kernel says not synchronised ({seen.describe()})")
    return ClockStatus(True, f"after the floor date; no other evidence ({seen}; no {marker})")
