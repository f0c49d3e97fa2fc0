"""demo/interrupt.py: a Ctrl-C whose KeyboardInterrupt is swallowed still stops the demo."""

import os
import signal
import time

import pytest

from demo import interrupt


def press_ctrl_c_and_swallow_it() -> None:
    """SIGINT to this process, its KeyboardInterrupt dropped (as a finalizer or a library's
    `except BaseException` would)."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(200):  # the handler runs in this (the main) thread at its next check
            time.sleep(0.01)
    except KeyboardInterrupt:
        return
    pytest.fail("SIGINT did not raise KeyboardInterrupt")


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check():
    with interrupt.remembered():
        press_ctrl_c_and_swallow_it()
        with pytest.raises(KeyboardInterrupt):
            interrupt.raise_if_interrupted()
        with pytest.raises(KeyboardInterrupt):  # until the block ends, every check raises
            interrupt.raise_if_interrupted()


def test_no_ctrl_c_no_raise_and_the_previous_handler_is_put_back():
    before = signal.getsignal(signal.SIGINT)
    with interrupt.remembered():
        interrupt.raise_if_interrupted()
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_each_block_starts_without_the_last_one_s_ctrl_c():
    with interrupt.remembered():
        press_ctrl_c_and_swallow_it()
    with interrupt.remembered():
        interrupt.raise_if_interrupted()
