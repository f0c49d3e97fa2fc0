"""Loopback ports: free ones, the same ones again after a restart, and waiting for a listener."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (with SO_REUSEADDR, as the local
    servers do, so connections of a crashed predecessor in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def reserved_port(state_dir: Path, name: str) -> int:
    """The port of service `name` in this state directory: the one recorded in
    `<state_dir>/ports.json` when it is still free, else a new free one, recorded.

    So a local cloud restarted on the same state directory (`make down`/`make up`, or `make up`
    after a crash) listens where the last one did, and publishers and clients that were
    connected reconnect by themselves. If another program took a recorded port, the service
    moves to a new one and the file says where."""
    book = state_dir / "ports.json"
    try:
        ports = {str(k): int(v) for k, v in json.loads(book.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        ports = {}
    port = ports.get(name)
    if port is None or not port_is_free(port):
        port = free_port()
        ports[name] = port
        state_dir.mkdir(parents=True, exist_ok=True)
        book.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
    return port


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 30.0) -> None:
    """Block until something accepts connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as err:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from err
            time.sleep(0.05)
