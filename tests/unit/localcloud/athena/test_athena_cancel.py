"""StopQueryExecution reaches a DuckDB statement that starts just after the cancel.

DuckDB's interrupt() stops only a statement executing at that moment; a single interrupt sent
between the engine's last cancel check and the start of the statement was lost, and the
"cancelled" query ran to its end, holding the only worker (seen once in a fresh-clone run of
the suite under load)."""

from __future__ import annotations

import threading
import time

from localcloud.athena.engine import CancelToken


class Connection:
    def __init__(self) -> None:
        self.interrupts = 0
        self.lock = threading.Lock()

    def interrupt(self) -> None:
        with self.lock:
            self.interrupts += 1


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_cancelled_token_keeps_interrupting_until_the_connection_is_detached():
    token, connection = CancelToken(), Connection()
    token.attach(connection)
    token.cancel()
    assert wait_for(lambda: connection.interrupts >= 3)  # a statement starting late is reached
    token.attach(None)
    time.sleep(0.2)
    settled = connection.interrupts
    time.sleep(0.2)
    assert connection.interrupts == settled  # detached: no more interrupts


def test_a_token_cancelled_before_the_connection_is_attached_interrupts_it():
    token, connection = CancelToken(), Connection()
    token.cancel()
    assert token.cancelled
    token.attach(connection)
    assert wait_for(lambda: connection.interrupts >= 1)
    token.attach(None)


def test_an_uncancelled_token_never_interrupts():
    token, connection = CancelToken(), Connection()
    token.attach(connection)
    time.sleep(0.2)
    token.attach(None)
    assert connection.interrupts == 0
