"""Helpers for the publisher's integration tests: an observer that records what arrives at the
broker, publisher configs, and `python -m device` as a subprocess."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from sense_emu.screen import screen_filename

from localcloud.iot.broker import DEFAULT_TELEMETRY_FILTERS, MosquittoBroker
from localcloud.iot.ca import LocalCA

ROOT = Path(__file__).resolve().parents[3]
OBSERVER = "observer"


BASIC_INGEST_FILTER = DEFAULT_TELEMETRY_FILTERS[1]  # what the publisher sends by default


def mqtt_client(
    broker: MosquittoBroker,
    ca: LocalCA,
    name: str,
    client_id: str,
    on_publish: Callable[[mqtt5.PublishReceivedData], None],
    connected: threading.Event,
    **options: object,
) -> mqtt5.Client:
    """An MQTT 5 test client with the certificate of `name` (issued by `ca`) that reconnects
    quickly and sets `connected` on every connection; `options` go to the client builder."""
    creds = ca.issue_device_certificate(name)
    return mqtt5_client_builder.mtls_from_path(
        cert_filepath=str(creds.certificate),
        pri_key_filepath=str(creds.private_key),
        ca_filepath=str(creds.ca),
        endpoint=broker.host,
        port=broker.port,
        client_id=client_id,
        min_reconnect_delay_ms=100,
        max_reconnect_delay_ms=1000,
        extended_validation_and_flow_control_options=(
            mqtt5.ExtendedValidationAndFlowControlOptions.NONE
        ),
        on_publish_received=on_publish,
        on_lifecycle_connection_success=lambda data: connected.set(),
        **options,
    )


class Observer:
    """Subscribes to every device's telemetry (as the devices publish it: through the default
    rule's Basic Ingest topics) with a persistent session (so nothing published while it
    reconnects after a broker restart is lost) and records the readings."""

    def __init__(self, broker: MosquittoBroker, ca: LocalCA, topic: str = BASIC_INGEST_FILTER):
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt_client(
            broker,
            ca,
            OBSERVER,
            OBSERVER,
            self._on_publish,
            self._connected,
            session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            session_expiry_interval_sec=3600,
            on_lifecycle_disconnection=lambda data: self._connected.clear(),
        )
        self.client.start()
        assert self._connected.wait(10), "the observer could not connect"
        subscribe = mqtt5.SubscribePacket([mqtt5.Subscription(topic, mqtt5.QoS.AT_LEAST_ONCE)])
        suback = self.client.subscribe(subscribe).result(10)
        assert suback.reason_codes == [mqtt5.SubackReasonCode.GRANTED_QOS_1]

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        with self._lock:
            self.messages.append((data.publish_packet.topic, bytes(data.publish_packet.payload)))

    def readings(self, device: str | None = None) -> list[dict]:
        """Readings in arrival order (duplicates included), optionally of one device."""
        with self._lock:
            found = [json.loads(payload) for _, payload in self.messages]
        return [r for r in found if device is None or r["device_id"] == device]

    def topics(self) -> set[str]:
        with self._lock:
            return {topic for topic, _ in self.messages}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.05)

    def distinct(self, device: str) -> set[int]:
        return {r["seq"] for r in self.readings(device)}

    def stop(self) -> None:
        self.client.stop()


def write_config(
    path: Path,
    broker: MosquittoBroker,
    ca: LocalCA,
    thing: str,
    source: str,
    certificate_of: str | None = None,
    extra: str = "",
    devices: list[str] | None = None,
) -> Path:
    """A publisher config for `thing`; certificates for `devices` (default: the thing) are
    issued by `ca`. `certificate_of` makes the thing connect with another thing's files."""
    for name in devices or [thing]:
        ca.issue_device_certificate(name)
    folder = ca.directory / "devices"
    owner = certificate_of or "{thing}"
    path.write_text(
        f"""
[device]
thing_name = "{thing}"
source = "{source}"
log_level = "INFO"
[mqtt]
endpoint = "{broker.host}"
port = {broker.port}
certificate = "{folder}/{owner}/certificate.pem.crt"
private_key = "{folder}/{owner}/private.pem.key"
ca = "{ca.certificate_path}"
min_reconnect_delay_ms = 100
max_reconnect_delay_ms = 1000
iot_core_flow_control = false
[spool]
path = "{path.parent}/spool-{thing}.db"
synchronous = "normal"
[publish]
rate_per_second = 0
shutdown_grace_seconds = 2
{extra}
""",
        encoding="utf-8",
    )
    return path


def device_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVICE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_publisher(config: Path, log: Path, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """`python -m device publish`, behind `prefix` (e.g. a command making a mount namespace)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*prefix, sys.executable, "-m", "device", "publish", "--config", str(config)],
            cwd=ROOT,
            env=device_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_device(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device", *args],
        cwd=ROOT,
        env=device_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def emulated_pixels() -> list[list[int]]:
    """The emulated LED matrix, read from sense-emu's shared-memory screen file (64 RGB565
    values, row by row), without attaching to the emulator."""
    data = Path(screen_filename()).read_bytes()[:128]
    return [
        [(v >> 11) << 3, ((v >> 5) & 0x3F) << 2, (v & 0x1F) << 3]
        for (v,) in struct.iter_unpack("=H", data)
    ]


def rgb565(pixels: list[list[int]]) -> list[list[int]]:
    return [[r & 0xF8, g & 0xFC, b & 0xF8] for r, g, b in pixels]
