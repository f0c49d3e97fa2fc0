"""What every local server shares: start(), stop(), use as a context manager; running one as a
standalone command; stopping a server subprocess."""

from __future__ import annotations

import signal
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import FrameType, TracebackType
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


def serve_until_signalled(service: Service, name: str) -> None:
    """The standalone commands (`python -m localcloud.athena.server`, ...): run `service` until
    SIGTERM or SIGINT; print `<name> listening on <endpoint>` once it serves."""
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with service:
        print(f"{name} listening on {getattr(service, 'endpoint', '?')}", flush=True)
        stop.wait()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask a server subprocess to stop (SIGTERM) and wait; kill it after `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_until_set(
    run_forever: Callable[[threading.Event], None], stop_event: threading.Event, name: str
) -> threading.Thread:
    """Run a poller's `run_forever(stop_event)` in a daemon thread (started) until the event is
    set: the event sources, schedules and notification bridges of the local Lambda."""
    thread = threading.Thread(target=run_forever, args=(stop_event,), name=name, daemon=True)
    thread.start()
    return thread
