"""The publisher's state on the Sense HAT's 8x8 LED matrix.

- connected (the backlog fits in one in-flight window): a small green tick;
- buffering (offline, or draining a backlog): amber bars from the bottom, one row per decimal
  digit of the backlog size (1-9 readings: one row, 10-99: two rows, ... 10 million or more: all
  eight), so the order of magnitude can be read from across the room;
- error: the broker refuses this device's certificate or identity (the publisher keeps trying
  and keeps sampling), or a setting or permission the publisher cannot fix by retrying (it
  stops): a red cross, left on the matrix after the publisher has stopped. A publisher stopped
  normally clears the matrix;
- clock not synchronised (device/clock_guard.py): a blue clock face; the publisher takes no
  readings until the system clock is synchronised (it keeps sending what the spool holds);
- alert (device/alerts.py): the cloud says the device's level is warning (an amber warning sign:
  a filled triangle with the exclamation mark left dark) or critical (the same sign in red),
  until an alert with `device_level` normal arrives.

Precedence (`choose_state`): error, then the clock, then alert, then buffering or connected. The
red cross wins because a device whose certificate is refused cannot hear from the cloud at all.
The clock comes next: while it shows, no reading is taken, so no alert can change and an alert
picture would suggest a device that is still measuring. An alert hides
the connection pictures while it lasts, also while offline (the last word of the cloud stands
until the retained alert, sent again on the reconnect, says otherwise).

`StatusDisplay` draws only when the picture changes. Sources without LEDs (replay, synthetic) get
a display with no matrix, which does nothing (the publisher logs alert transitions at WARNING
level instead).
"""

from __future__ import annotations

import enum
import logging

from device.alerts import Level
from device.sources.base import LedMatrix

log = logging.getLogger(__name__)

Pixel = list[int]
OFF: Pixel = [0, 0, 0]
GREEN: Pixel = [0, 160, 0]
AMBER: Pixel = [200, 110, 0]
RED: Pixel = [200, 0, 0]
BLUE: Pixel = [0, 90, 200]

_TICK = (
    "........",
    "........",
    "......#.",
    ".....#..",
    "#...#...",
    ".#.#....",
    "..#.....",
    "........",
)
_CROSS = (
    "#......#",
    ".#....#.",
    "..#..#..",
    "...##...",
    "...##...",
    "..#..#..",
    ".#....#.",
    "#......#",
)

_CLOCK = (
    "..####..",
    ".#....#.",
    "#..#...#",
    "#..#...#",
    "#..###.#",
    "#......#",
    ".#....#.",
    "..####..",
)

_WARNING_SIGN = (
    "...##...",
    "..#..#..",
    "..#..#..",
    ".##..##.",
    ".##..##.",
    "########",
    "###..###",
    "########",
)


class State(enum.Enum):
    CONNECTED = "connected"
    BUFFERING = "buffering"
    ERROR = "error"
    ALERT_WARNING = "alert_warning"
    ALERT_CRITICAL = "alert_critical"
    CLOCK_NOT_SYNCHRONISED = "clock_not_synchronised"


def choose_state(
    error: bool, connected: bool, alert: Level, clock_not_synchronised: bool = False
) -> State:
    """The picture to show: error, the clock, an alert, then connected or buffering."""
    if error:
        return State.ERROR
    if clock_not_synchronised:
        return State.CLOCK_NOT_SYNCHRONISED
    if alert is Level.CRITICAL:
        return State.ALERT_CRITICAL
    if alert is Level.WARNING:
        return State.ALERT_WARNING
    return State.CONNECTED if connected else State.BUFFERING


def _picture(rows: tuple[str, ...], colour: Pixel) -> list[Pixel]:
    return [list(colour) if cell == "#" else list(OFF) for row in rows for cell in row]


def backlog_rows(backlog: int) -> int:
    """How many of the 8 rows the buffering picture lights for `backlog` readings."""
    return 0 if backlog <= 0 else min(8, len(str(backlog)))


def render(state: State, backlog: int = 0) -> list[Pixel]:
    """The 64 pixels (row by row, top left first) for a state."""
    if state is State.CONNECTED:
        return _picture(_TICK, GREEN)
    if state is State.ERROR:
        return _picture(_CROSS, RED)
    if state is State.CLOCK_NOT_SYNCHRONISED:
        return _picture(_CLOCK, BLUE)
    if state is State.ALERT_CRITICAL:
        return _picture(_WARNING_SIGN, RED)
    if state is State.ALERT_WARNING:
        return _picture(_WARNING_SIGN, AMBER)
    lit = backlog_rows(backlog)
    return [list(AMBER) if row >= 8 - lit else list(OFF) for row in range(8) for _ in range(8)]


class StatusDisplay:
    """Shows states on an LED matrix (or nowhere, without one)."""

    def __init__(self, matrix: LedMatrix | None) -> None:
        self.matrix = matrix
        self._shown: list[Pixel] | None = None

    def show(self, state: State, backlog: int = 0) -> None:
        if self.matrix is None:
            return
        pixels = render(state, backlog)
        if pixels == self._shown:
            return
        try:
            self.matrix.set_pixels(pixels)
        except OSError as err:  # a display failure must not stop the publishing
            log.warning("cannot update the LED matrix: %s", err)
            return
        self._shown = pixels

    def clear(self) -> None:
        if self.matrix is not None:
            try:
                self.matrix.clear()
            except OSError as err:
                log.warning("cannot clear the LED matrix: %s", err)
        self._shown = None
