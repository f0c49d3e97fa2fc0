"""What every local service shares: start(), stop(), and use as a context manager; and the
background thread of the HTTP stand-ins."""

from __future__ import annotations

import socketserver
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


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
