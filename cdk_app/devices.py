"""The device registry (context `deviceNames`): each device's thing name and where it is.

`deviceNames` is a list of thing names (or a comma-separated string on the command line), as
before, or a registry: an object of thing name -> attributes, or a list whose items are a thing
name or an object with `name` and attributes. On the command line, `thing=site/building/floor/
room` (as far as known) gives a device its place without JSON. The attributes, all optional:

    site, building, floor, room   where the device is, from the largest place to the smallest
    sensor                        the sensor model (e.g. "Sense HAT", "SHT31")

A place level may be set only with every level above it (a room is in a floor of a building of
a site), so `site/building/floor/room` names one place and the same room name in two buildings
is two rooms. A device's place path (`place_path`) is its levels joined by `/`.

The attributes become the thing's attributes in IoT Core: `place` (the path) and `sensor`, two
of the three attributes a thing without a thing type may have (AWS::IoT::Thing AttributePayload,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-iot-thing-attributepayload.html),
and so must fit the IoT attribute value pattern `[a-zA-Z0-9_.,@/:#=\\[\\]-]*`, at most 800
characters (https://docs.aws.amazon.com/iot/latest/apireference/API_AttributePayload.html);
`/` separates the levels and may not appear in one. They also become the rows of the Glue table
`devices` (cdk_app/analytics.py), which every query can join on `device_id`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

THING_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
PLACE_LEVELS: tuple[str, ...] = ("site", "building", "floor", "room")
ATTRIBUTES: tuple[str, ...] = (*PLACE_LEVELS, "sensor")
# IoT attribute values: [a-zA-Z0-9_.,@/:#=\[\]-]*, at most 800; `/` joins the place levels.
ATTRIBUTE_VALUE = re.compile(r"^[a-zA-Z0-9_.,@:#=\[\]-]+$")
MAX_ATTRIBUTE_VALUE = 800
MAX_THING_ATTRIBUTES = 3  # without a thing type
PLACE_SEPARATOR = "/"
KEY = "deviceNames"


class RegistryError(ValueError):
    """The registry is unusable; the message names the device and the attribute."""


@dataclass(frozen=True)
class Device:
    name: str
    site: str | None = None
    building: str | None = None
    floor: str | None = None
    room: str | None = None
    sensor: str | None = None

    @property
    def place_levels(self) -> tuple[str, ...]:
        """The levels that are set, from the site down."""
        values = (self.site, self.building, self.floor, self.room)
        return tuple(value for value in values if value is not None)

    @property
    def place_path(self) -> str | None:
        """`site/building/floor/room` as far as set; None for a device with no place."""
        return PLACE_SEPARATOR.join(self.place_levels) or None

    def thing_attributes(self) -> dict[str, str]:
        """The thing's IoT attributes: `place` and `sensor`, each when set."""
        attributes = {"place": self.place_path, "sensor": self.sensor}
        return {key: value for key, value in attributes.items() if value is not None}

    def row(self) -> dict[str, str | None]:
        """The device's row in the Glue table `devices`."""
        row = asdict(self)
        return {"device_id": row.pop("name"), **row, "place": self.place_path}


def parse_registry(raw: Any) -> tuple[Device, ...]:
    """The registry from the context value, checked; RegistryError says what is wrong."""
    if isinstance(raw, str):
        text = raw.strip()
        raw = json.loads(text) if text[:1] in "[{" else [_short(n) for n in text.split(",")]
    if isinstance(raw, Mapping):
        entries: list[Any] = [{"name": name, **_attributes(name, a)} for name, a in raw.items()]
    elif isinstance(raw, list | tuple):
        entries = list(raw)
    else:
        raise RegistryError(
            f"context setting '{KEY}' must be a list of thing names or an object of thing name "
            f"-> attributes, got {raw!r}"
        )
    devices = tuple(_device(entry) for entry in entries)
    if not devices:
        raise RegistryError(f"context setting '{KEY}' must name at least one device")
    names = [device.name for device in devices]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RegistryError(f"context setting '{KEY}' lists a device twice: {', '.join(twice)}")
    return devices


def registry_json_lines(devices: tuple[Device, ...]) -> str:
    """The Glue table `devices`' object: one JSON object a line, sorted by device."""
    rows = sorted((device.row() for device in devices), key=lambda row: str(row["device_id"]))
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)


def _short(item: str) -> str | dict[str, str]:
    """The command line's short form: `thing` or `thing=site/building/floor/room` (as far as
    known), so `-c deviceNames=pi-1=home/main/0/kitchen,pi-2` needs no JSON quoting."""
    name, separator, path = item.strip().partition("=")
    if not separator:
        return name
    levels = path.split(PLACE_SEPARATOR)
    if len(levels) > len(PLACE_LEVELS):
        raise RegistryError(
            f"context setting '{KEY}': {name}: {path!r} has more than {len(PLACE_LEVELS)} "
            f"levels ({'/'.join(PLACE_LEVELS)})"
        )
    return {"name": name, **dict(zip(PLACE_LEVELS, levels, strict=False))}


def _attributes(name: Any, attributes: Any) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise RegistryError(
            f"context setting '{KEY}': {name!r}: the attributes must be an object "
            f"({', '.join(ATTRIBUTES)}), got {attributes!r}"
        )
    return dict(attributes)


def _device(entry: Any) -> Device:
    if isinstance(entry, str):
        entry = {"name": entry.strip()}
    if not isinstance(entry, Mapping):
        raise RegistryError(
            f"context setting '{KEY}': each device is a thing name or an object with 'name', "
            f"got {entry!r}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not THING_NAME.match(name):
        raise RegistryError(
            f"context setting '{KEY}': {name!r} is not a valid IoT thing name "
            "(1-128 of letters, digits, ':', '_', '-')"
        )
    unknown = sorted(set(entry) - {"name", *ATTRIBUTES})
    if unknown:
        raise RegistryError(
            f"context setting '{KEY}': {name}: unknown attribute(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(ATTRIBUTES)})"
        )
    values = {key: _value(name, key, entry.get(key)) for key in ATTRIBUTES}
    for upper, lower in itertools.pairwise(PLACE_LEVELS):
        if values[lower] is not None and values[upper] is None:
            above = PLACE_LEVELS[: PLACE_LEVELS.index(lower)]
            raise RegistryError(
                f"context setting '{KEY}': {name}: '{lower}' needs every level above it "
                f"({', '.join(above)}): '{upper}' is not set"
            )
    device = Device(name=name, **values)
    if len(device.thing_attributes()) > MAX_THING_ATTRIBUTES:  # kept true as attributes grow
        raise RegistryError(f"{name}: more than {MAX_THING_ATTRIBUTES} IoT thing attributes")
    path = device.place_path or ""
    if len(path) > MAX_ATTRIBUTE_VALUE:
        raise RegistryError(
            f"context setting '{KEY}': {name}: the place {path[:40]!r}... is {len(path)} "
            f"characters; an IoT thing attribute value holds at most {MAX_ATTRIBUTE_VALUE}"
        )
    return device


def _value(name: str, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RegistryError(f"context setting '{KEY}': {name}.{key} must be text, got {value!r}")
    text = str(value)
    if not ATTRIBUTE_VALUE.match(text) or len(text) > MAX_ATTRIBUTE_VALUE:
        raise RegistryError(
            f"context setting '{KEY}': {name}.{key} {text!r} cannot be an IoT thing attribute "
            f"value: use 1-{MAX_ATTRIBUTE_VALUE} of letters, digits and _ . , @ : # = [ ] - "
            "(no spaces; '/' separates the place levels)"
        )
    return text
