"""Ctrl-C that is never lost: SIGINT raises KeyboardInterrupt, as Python's own handler does,
and is also remembered, so a loop that checks `raise_if_interrupted()` stops even when the
exception was swallowed on its way up.

Python runs a signal's handler in the main thread between two bytecodes, wherever that thread
is: inside a finalizer or a library's `except BaseException` the KeyboardInterrupt can be
printed as "Exception ignored" or dropped, and the program goes on as if nothing was pressed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_pressed = threading.Event()


def _on_sigint(_number: int, _frame: FrameType | None) -> None:
    _pressed.set()
    raise KeyboardInterrupt


@contextmanager
def remembered() -> Iterator[None]:
    """Within the block, SIGINT is remembered as well as raised (the handler before it is put
    back afterwards; call from the main thread)."""
    _pressed.clear()
    previous: Callable[[int, FrameType | None], object] | int | None = signal.signal(
        signal.SIGINT, _on_sigint
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed within `remembered()` (again, if the first
    one was swallowed)."""
    if _pressed.is_set():
        raise KeyboardInterrupt
