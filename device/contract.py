"""The device's copy of the reading contract (CONTRACTS.md, "Reading (schema 1)" and "MQTT").

This is the one place in `device/` where field names, valid ranges, the topics and the message
limit are written down (the alert message itself is read in `device/alerts.py`).
`tests/unit/device/test_contract.py` compares it with the table in CONTRACTS.md so the two
cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final

SCHEMA_VERSION: Final = 1
# The telemetry topic as the topic rule sees it (`topic(2)` is the thing name).
TOPIC_TEMPLATE: Final = "sensors/{thing}/telemetry"
# The device publishes it through Basic Ingest, straight to the stack's topic rule: the topic
# is prefixed with `$aws/rules/<rule name>/`, and IoT Core does not bill it as messaging. The
# default is the default stack's rule; a stage's stack names its own in its TelemetryTopic
# output, which goes into `[mqtt] topic`.
BASIC_INGEST_RULE: Final = "sensor_pipeline_telemetry"
DEFAULT_TOPIC_TEMPLATE: Final = f"$aws/rules/{BASIC_INGEST_RULE}/{TOPIC_TEMPLATE}"
# Where the cloud publishes a device's alerts (QoS 1, retained); a device may read only its own.
ALERTS_TOPIC_TEMPLATE: Final = "sensors/{thing}/alerts"
MAX_MESSAGE_BYTES: Final = 128 * 1024  # IoT Core's message size limit
DEVICE_ID_PATTERN: Final = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")

# field -> (lowest valid value, highest valid value), inclusive; units as in CONTRACTS.md.
RANGES: Final[dict[str, tuple[float, float]]] = {
    "temperature": (-40.0, 120.0),  # degC, CPU-compensated
    "humidity": (0.0, 100.0),  # %RH
    "pressure": (260.0, 1260.0),  # hPa
    "cpu_temp": (-40.0, 150.0),  # degC
    "temperature_raw": (-40.0, 120.0),  # degC, the HTS221's own reading
    "pitch": (0.0, 360.0),  # degrees
    "roll": (0.0, 360.0),
    "yaw": (0.0, 360.0),
}
REQUIRED_MEASUREMENTS: Final = ("temperature", "humidity")
# A measurement the device did not take is left out of the reading (the cloud stores it as null).
OPTIONAL_MEASUREMENTS: Final = ("pressure", "cpu_temp", "temperature_raw", "pitch", "roll", "yaw")
# Key order of a published reading (JSON objects keep insertion order).
FIELD_ORDER: Final = (
    "schema",
    "device_id",
    "seq",
    "ts",
    *REQUIRED_MEASUREMENTS,
    *OPTIONAL_MEASUREMENTS,
    "flags",
)


def topic_for(thing_name: str, template: str = DEFAULT_TOPIC_TEMPLATE) -> str:
    """The telemetry topic a device publishes to, by default
    `$aws/rules/sensor_pipeline_telemetry/sensors/<thing-name>/telemetry`."""
    return check_topic_template(template).format(thing=thing_name)


def check_topic_template(template: str) -> str:
    """Return `template` if it names the thing once as `{thing}` and is a topic one may
    publish to (no wildcard, no empty level), else raise ValueError."""
    problems = []
    if template.count("{thing}") != 1 or template.replace("{thing}", "").count("{") > 0:
        problems.append("must contain {thing} exactly once and no other {...}")
    if "+" in template or "#" in template:
        problems.append("must not contain the wildcards + or #")
    if not template or template.startswith("/") or "//" in template:
        problems.append("must not be empty, begin with / or have an empty level")
    if problems:
        raise ValueError(f"topic {template!r} " + "; ".join(problems))
    return template


def alerts_topic_for(thing_name: str) -> str:
    """The topic a device receives its own alerts on: `sensors/<thing-name>/alerts`."""
    return ALERTS_TOPIC_TEMPLATE.format(thing=thing_name)


def check_thing_name(name: str) -> str:
    """Return `name` if it is a valid thing name / device id, else raise ValueError."""
    if not DEVICE_ID_PATTERN.match(name):
        raise ValueError(
            f"device id {name!r} is not valid: 1-128 characters of a-z A-Z 0-9 : _ - "
            f"(pattern {DEVICE_ID_PATTERN.pattern})"
        )
    return name
