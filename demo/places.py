"""`make demo FLEET=1`: the real log's device and a synthetic fleet in named places.

The registry (context `deviceNames`, cdk_app/devices.py) puts the Sense HAT of the real log and
six synthetic devices in three rooms on two floors of one building. The fleet runs in one
`demo.fleet` process, each device the real publisher with the config the local cloud wrote for
its thing (`<state>/devices/<thing>/config.toml`: its own certificate, connection and spool),
sampling the `synthetic` source every five minutes of simulated time over the log's first day,
as fast as the pipeline takes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localcloud.iot.device_configs import DEVICES_DIR

SITE = {"site": "campus", "building": "north"}
ROOMS = {"kitchen": "1", "office": "1", "lab": "2"}  # room -> floor
PER_ROOM = 2
LOG_DEVICE = ("sensehat-01", {**SITE, "floor": "2", "room": "lab", "sensor": "SenseHAT"})
START = "2015-08-21T00:00:00Z"  # the log's first day
INTERVAL_SECONDS = 300
COUNT = 288  # a day


def fleet_registry() -> dict[str, dict[str, str]]:
    """The demo's `deviceNames`: the log's device first, then the fleet."""
    registry = {LOG_DEVICE[0]: LOG_DEVICE[1]}
    for room, floor in ROOMS.items():
        for number in range(1, PER_ROOM + 1):
            registry[f"{room}-{number}"] = {**SITE, "floor": floor, "room": room, "sensor": "SHT31"}
    return registry


def fleet_context() -> dict[str, Any]:
    return {"deviceNames": json.dumps(fleet_registry(), separators=(",", ":"))}


def fleet_things() -> list[str]:
    return [thing for thing in fleet_registry() if thing != LOG_DEVICE[0]]


def spool(cloud_state: Path, thing: str) -> Path:
    """Where a device's config (written by the local cloud) keeps its spool."""
    return cloud_state / DEVICES_DIR / thing / "spool.db"


def fleet_settings(cloud_state: Path) -> list[dict[str, str]]:
    """`demo.fleet`'s input: each device's written config, and the demo's run."""
    return [
        {
            "DEVICE_CONFIG": str(cloud_state / DEVICES_DIR / thing / "config.toml"),
            "DEVICE_THING_NAME": thing,
            "DEVICE_LOG_LEVEL": "WARNING",
            "DEVICE_MQTT_IOT_CORE_FLOW_CONTROL": "false",
            "DEVICE_PUBLISH_RATE_PER_SECOND": "0",
            "DEVICE_SPOOL_SYNCHRONOUS": "normal",
            "DEVICE_SYNTHETIC_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
            "DEVICE_SYNTHETIC_COUNT": str(COUNT),
            "DEVICE_SYNTHETIC_SPEED": "0",
            "DEVICE_SYNTHETIC_START": START,
            "DEVICE_SYNTHETIC_SEED": str(number),
        }
        for number, thing in enumerate(fleet_things(), start=1)
    ]
