"""What every local server shares: start(), stop(), use as a context manager; running one as a
standalone command; child processes that die with the local cloud; a server subprocess
(`ServerProcess`: kinesalite, moto, mosquitto)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

from localcloud.core.ports import LOOPBACK, free_port, wait_for_port


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


SETPRIV = shutil.which("setpriv")


def dies_with_parent(command: Sequence[str], death_signal: str = "KILL") -> list[str]:
    """`command`, run so that the kernel sends it `death_signal` (SIGKILL by default) when the
    thread that started it ends, also when the local cloud is killed with `kill -9`: util-linux's
    `setpriv --pdeathsig` sets `PR_SET_PDEATHSIG` and then executes the command (prctl(2): the
    setting survives execve, and is cleared by a set-user-ID binary or a change of credentials,
    which is why mosquitto is told `user root` when it runs as root). Start such children from
    a thread that lives as long as they should (the local cloud's main thread). Without setpriv
    (not a Linux with util-linux) the command runs as it is and can outlive a crashed local
    cloud."""
    if SETPRIV is None:
        return list(command)
    return [SETPRIV, "--pdeathsig", death_signal, "--", *command]


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


class ServerProcess(Service):
    """A server subprocess on a loopback port: `command()` started in a process group of its
    own (a Ctrl-C in the terminal reaches only the local cloud, which stops it in order), sent
    SIGTERM when the local cloud dies (each of these servers saves its data on SIGTERM), its
    output appended to `log_path`; start() returns once the port accepts connections."""

    name = "server"
    startup_seconds = 30.0

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    def environment(self) -> dict[str, str]:
        """Variables added to this process's environment for the server."""
        return {}

    def start(self) -> Self:
        if self.running:
            return self
        command = self.command()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                dies_with_parent(command, death_signal="TERM"),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.environment()},
                process_group=0,
            )
        finally:
            if log != subprocess.DEVNULL:
                log.close()
        try:
            wait_for_port(self.port, timeout=self.startup_seconds)
        except TimeoutError as err:
            code = self._process.poll()
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path else ""
            raise RuntimeError(
                f"{self.name} did not listen on {LOOPBACK}:{self.port} (exit code {code}); "
                f"log {self.log_path}:\n{tail}"
            ) from err
        return self

    def stop(self) -> None:
        """SIGTERM and wait (the server saves its data), SIGKILL after 10 s."""
        if self._process is not None:
            stop_process(self._process)
            self._process = None
