"""What every local service shares: start(), stop(), and use as a context manager; the
background thread of the HTTP stand-ins; and child processes that die with the local cloud."""

from __future__ import annotations

import shutil
import socketserver
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

SETPRIV = shutil.which("setpriv")


def dies_with_parent(command: Sequence[str], signal: str = "KILL") -> list[str]:
    """`command`, run so that the kernel sends it `signal` (SIGKILL by default) when the thread
    that started it ends, also when the local cloud is killed with `kill -9`: util-linux's `setpriv
    --pdeathsig` sets `PR_SET_PDEATHSIG` and then executes the command (prctl(2): the setting
    survives execve, and is cleared by a set-user-ID binary or a change of credentials, which is
    why mosquitto is told `user root` when it runs as root). Start such children from a thread
    that lives as long as they should (the local cloud's main thread). Without setpriv (not a
    Linux with util-linux) the command runs as it is and can outlive a crashed local cloud."""
    if SETPRIV is None:
        return list(command)
    return [SETPRIV, "--pdeathsig", signal, "--", *command]


class Service(ABC):
    @abstractmethod
    def start(self) -> Self:
        """Start serving; return self."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and release what start() took."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_background(
    server: socketserver.BaseServer, name: str, poll_interval: float = 0.05
) -> threading.Thread:
    """Run an HTTP stand-in's `serve_forever` in a daemon thread (started)."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: socketserver.BaseServer, thread: threading.Thread | None) -> None:
    """Stop `serve_forever`, close the listening socket, and wait for the thread."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=10)
