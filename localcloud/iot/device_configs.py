"""A ready publisher config for every thing of the stack: `<state_dir>/devices/<thing>/config.toml`.

The local equivalent of what a person does per device on AWS (CreateKeysAndCertificate, attach
it to the thing, write the publisher's config from the stack's outputs): each thing gets a
certificate from the local CA and a config naming the broker, the stack's Basic Ingest topic
(output `TelemetryTopic`), its certificate, key and the CA, and a spool of its own. The source
is `synthetic` (this machine has no Sense HAT): `DEVICE_CONFIG=<path> python -m device publish`
publishes one reading a second until stopped; `DEVICE_*` variables override any key
(device/config.example.toml), e.g. `DEVICE_SYNTHETIC_COUNT=20` to stop after 20 readings.
Written on every start (the ports and certificates are this state directory's).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path

from localcloud.iot.ca import LocalCA

DEVICES_DIR = "devices"


def _toml(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's


def device_config(
    thing: str,
    host: str,
    port: int,
    topic: str,
    certificate: Path,
    key: Path,
    ca: Path,
    spool: Path,
) -> str:
    """The TOML text of one device's config."""
    tables: dict[str, dict[str, str | int | float | bool]] = {
        "device": {"thing_name": thing, "source": "synthetic", "led": False},
        "mqtt": {
            "endpoint": host,
            "port": port,
            "topic": topic,
            "certificate": str(certificate),
            "private_key": str(key),
            "ca": str(ca),
        },
        "spool": {"path": str(spool)},
        # Each thing its own simulated climate (the seed picks it), the same on every start.
        "synthetic": {
            "interval_seconds": 1.0,
            "count": 0,
            "speed": 1.0,
            "seed": zlib.crc32(thing.encode()) % 100_000 + 1,
        },
    }
    lines = [f"# {thing} on the local cloud (written by the local cloud's start; see README)"]
    for table, values in tables.items():
        lines += ["", f"[{table}]", *(f"{key} = {_toml(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def write_device_configs(
    state_dir: Path, ca: LocalCA, things: Iterable[str], host: str, port: int, topic: str
) -> list[Path]:
    """Issue a certificate for each thing and write its config; the configs' paths. The config
    of a thing the stack no longer has is removed (its spool, which may hold readings, stays)."""
    names = list(things)
    for stale in (state_dir / DEVICES_DIR).glob("*/config.toml"):
        if stale.parent.name not in names:
            stale.unlink()
    written = []
    for thing in names:
        credentials = ca.issue_device_certificate(thing)
        folder = state_dir / DEVICES_DIR / thing
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "config.toml"
        path.write_text(
            device_config(
                thing,
                host,
                port,
                topic,
                credentials.certificate,
                credentials.private_key,
                credentials.ca,
                folder / "spool.db",
            ),
            encoding="utf-8",
        )
        written.append(path)
    return written
