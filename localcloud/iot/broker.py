"""The IoT Core message broker on one machine: mosquitto (Debian package) with mutual TLS.

`MosquittoBroker(directory, ca)` writes `directory/mosquitto.conf` and an ACL file, and runs
`mosquitto -c` on 127.0.0.1 as a subprocess:

- one TLS listener; the server certificate is issued by the given `LocalCA`, clients must present
  a certificate from the same CA (`require_certificate true`), and the certificate's CN becomes
  the MQTT username (`use_identity_as_username true`), which the ACL's `%u` refers to;
- `message_size_limit 131072`: IoT Core's 128 KiB message limit;
- persistence in `directory/data/`, so sessions and their queued messages survive `restart()`
  (the tests stop the broker mid-stream and expect subscribers to get everything afterwards).
  A subscriber that must not miss messages connects with clean start off from its very first
  connection and a session expiry (awscrt `REJOIN_ALWAYS`): with mosquitto 2.0.11, a session
  begun with clean start on (`REJOIN_POST_SUCCESS`) rejoined after a restart received nothing;
- a large `max_queued_messages`, so a persistent subscriber that is behind loses nothing;
- the ACL rules are passed in. The default mirrors the IoT policy the CDK stack attaches to a
  device: publish only to `$aws/rules/sensor_pipeline_telemetry/sensors/<own thing>/telemetry`
  (Basic Ingest, to the default stack's rule), receive only on `sensors/<own thing>/alerts`.
  Other clients (a rule engine, a test observer) get rules with `reader_acl(name, *filters)`;
  the IoT data plane stand-in (`localcloud.iot.data_plane`) with `writer_acl(name)`.

Running as root: mosquitto 2.0 started as root switches to the `mosquitto` user before it opens
the certificate, key and ACL files. Those live in private directories (pytest's temporary folders
are mode 0700) and keys are 0600, so the unprivileged user could not read them. When this process
runs as root, the configuration therefore says `user root`, which keeps mosquitto as the invoking
user; it listens on 127.0.0.1 only. As any other user mosquitto cannot switch users and the line
is left out.

Differences from AWS
--------------------
- IoT Core disconnects a client that publishes where its policy does not allow; mosquitto (MQTT 5)
  answers with a PUBACK whose reason code is 0x87 "not authorized" and keeps the connection.
- IoT Core throttles each connection to 100 publishes per second and 512 KiB/s; mosquitto does not
  throttle. The device publisher enforces its own rate limit in both worlds.
- The client id is not tied to the thing name here; the ACL uses the certificate CN instead.
- No IoT policy variables beyond mosquitto's `%u` (username = CN) and `%c` (client id).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from localcloud.core.ports import LOOPBACK
from localcloud.core.service import ServerProcess
from localcloud.iot.ca import LocalCA

IOT_CORE_MESSAGE_LIMIT = 128 * 1024
# The default stack's telemetry rule: devices publish through Basic Ingest to
# `$aws/rules/<rule>/sensors/<thing>/telemetry` (cdk_app/ingest.py, CONTRACTS.md "MQTT").
DEFAULT_RULE_NAME = "sensor_pipeline_telemetry"
BASIC_INGEST_TELEMETRY = f"$aws/rules/{DEFAULT_RULE_NAME}/sensors/%u/telemetry"
DEFAULT_ACL: tuple[str, ...] = (
    f"pattern write {BASIC_INGEST_TELEMETRY}",
    "pattern read sensors/%u/alerts",
)
DEFAULT_TELEMETRY_FILTERS: tuple[str, ...] = (
    "sensors/+/telemetry",
    f"$aws/rules/{DEFAULT_RULE_NAME}/sensors/+/telemetry",
)
MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def reader_acl(username: str, *topic_filters: str) -> tuple[str, ...]:
    """ACL lines letting the client whose certificate CN is `username` read `topic_filters`
    (default: every device's telemetry, plain and through the default Basic Ingest rule)."""
    filters = topic_filters or DEFAULT_TELEMETRY_FILTERS
    return (f"user {username}", *(f"topic read {f}" for f in filters))


def writer_acl(
    username: str, topic_filters: Sequence[str] = ("sensors/+/alerts",)
) -> tuple[str, ...]:
    """ACL lines letting the client whose certificate CN is `username` publish to
    `topic_filters` (the IoT data plane stand-in publishes the alerts as `localcloud-iot-data`)."""
    return (f"user {username}", *(f"topic write {f}" for f in topic_filters))


def mosquitto_binary() -> str:
    """Path of the mosquitto executable, or a clear error saying how to install it."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        "mosquitto is not installed: apt-get install mosquitto (or run `make setup`)"
    )


class MosquittoBroker(ServerProcess):
    """A mosquitto subprocess with an mTLS listener on 127.0.0.1; a context manager. It gets
    SIGTERM, not SIGKILL, when the local cloud dies: mosquitto then writes its persistence file,
    so the sessions and the messages it acknowledged to devices and not yet delivered to the
    rule engine survive a crash of the local cloud."""

    name = "mosquitto"
    startup_seconds = 15.0

    def __init__(
        self,
        directory: Path,
        ca: LocalCA,
        port: int | None = None,
        acl: Sequence[str] = DEFAULT_ACL,
        max_queued_messages: int = 1_000_000,
    ) -> None:
        self.directory = Path(directory)
        super().__init__(port, self.directory / "mosquitto.log")
        self.ca = ca
        self.host = LOOPBACK
        self.acl = tuple(acl)
        self.max_queued_messages = max_queued_messages
        self.config_path = self.directory / "mosquitto.conf"
        self.acl_path = self.directory / "acl"

    def write_config(self) -> Path:
        """Write the server certificate, the ACL and mosquitto.conf; return the conf's path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        cert, key = self.ca.issue_server_certificate(["localhost", self.host])
        self.acl_path.write_text("\n".join(self.acl) + "\n", encoding="utf-8")
        lines = [
            "# written by localcloud.iot.broker: the local stand-in for the IoT Core broker",
            "per_listener_settings false",
            "allow_anonymous false",
            f"acl_file {self.acl_path}",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 60",
            f"message_size_limit {IOT_CORE_MESSAGE_LIMIT}",
            f"max_queued_messages {self.max_queued_messages}",
            "max_queued_bytes 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"listener {self.port} {self.host}",
            f"cafile {self.ca.certificate_path}",
            f"certfile {cert}",
            f"keyfile {key}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
        ]
        if os.geteuid() == 0:
            # See the module docstring: do not let mosquitto drop to a user that cannot read keys.
            lines.insert(1, "user root")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config_path

    def command(self) -> list[str]:
        return [mosquitto_binary(), "-c", str(self.write_config())]

    def restart(self) -> Self:
        """Stop and start again on the same port, keeping persisted sessions."""
        self.stop()
        return self.start()
