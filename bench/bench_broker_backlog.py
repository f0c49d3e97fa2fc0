"""The broker with a subscriber that falls behind: what mosquitto does with the rule engine's
persistent QoS 1 session when messages arrive faster than the engine acknowledges them.

The subscriber connects as the rule engine does (`MqttConnection`'s options: awscrt MQTT 5,
mutual TLS, clean start off with a session expiry, the engine's receive maximum; a manual PUBACK
per message) and handles what arrived in batches of up to 500, pausing `PAUSE_S` per batch as
the engine pauses for its PutRecords. Four `mosquitto_pub -l` processes, each with a device
certificate, publish BENCH_BROKER_MESSAGES (default 100000) QoS 1 messages between them, faster
than that.

Two scenarios, one line each:

- `steady`: the subscriber stays connected;
- `reconnect`: after RECONNECT_AFTER_S the subscriber stops without acknowledging what it holds
  and a new client rejoins the session, as the engine's successor does after a crash.

    BROKER_BACKLOG scenario=<name> messages=<n> receive_maximum=<n> max_unacknowledged=<n>
        delivered=<distinct messages> redelivered=<messages received again> stalled=<yes|no>
        seconds=<x>

`max_unacknowledged` is the most messages the subscriber held at once without having sent
their PUBACK: what the broker had in flight to it. MQTT 5 (3.3.4) lets the server have at most
the client's receive maximum in flight. `stalled=yes` means that for STALL_S nothing arrived
while messages were still missing: the failure the ten-minute load run met (README, "Load").
The bench ends at the first of: every message delivered, or a stall.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from awscrt import mqtt5  # noqa: E402
from awsiot import mqtt5_client_builder  # noqa: E402

from localcloud.core.ports import LOOPBACK  # noqa: E402
from localcloud.iot.broker import MosquittoBroker, reader_acl  # noqa: E402
from localcloud.iot.ca import LocalCA  # noqa: E402
from localcloud.iot.rules import MqttConnection  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_BROKER_MESSAGES", "100000"))
PUBLISHERS = 4
BATCH = 500
PAUSE_S = 0.2
RECONNECT_AFTER_S = 5.0
STALL_S = 60.0
TOPIC_FILTER = "sensors/+/telemetry"
SUBSCRIBER = "bench-subscriber"


@dataclass
class Tally:
    """What the subscriber saw; the lock guards every field."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    received: int = 0
    acknowledged: int = 0
    max_unacknowledged: int = 0
    last_arrival: float = field(default_factory=time.monotonic)
    seen: dict[bytes, int] = field(default_factory=dict)


class Subscriber:
    """The rule engine's way of connecting, with a worker that acknowledges in batches."""

    def __init__(self, connection: MqttConnection) -> None:
        self.connection = connection
        self.tally = Tally()
        self.deliveries: queue.Queue[tuple[bytes, Any, int]] = queue.Queue()
        self.generation = 0  # PUBACK handles of an earlier client are dropped, not sent
        self.client = self._start()
        self.client.subscribe(
            mqtt5.SubscribePacket([mqtt5.Subscription(TOPIC_FILTER, mqtt5.QoS.AT_LEAST_ONCE)])
        ).result(10)
        threading.Thread(target=self._work, daemon=True).start()

    def _start(self) -> Any:
        connected = threading.Event()
        generation = self.generation

        def on_publish(data: Any) -> None:
            handle = data.acquire_publish_acknowledgement_control()
            with self.tally.lock:
                self.tally.received += 1
                self.tally.last_arrival = time.monotonic()
                held = self.tally.received - self.tally.acknowledged
                self.tally.max_unacknowledged = max(self.tally.max_unacknowledged, held)
            self.deliveries.put((bytes(data.publish_packet.payload), handle, generation))

        connection = self.connection
        client = mqtt5_client_builder.mtls_from_path(  # as TopicRuleEngine._build_client
            **connection.client_options(),
            session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            session_expiry_interval_sec=connection.session_expiry_s,
            receive_maximum=connection.receive_maximum,
            on_publish_received=on_publish,
            on_lifecycle_connection_success=lambda data: connected.set(),
        )
        client.start()
        if not connected.wait(15):
            raise SystemExit(f"the subscriber could not connect to the broker on {connection.port}")
        return client

    def rejoin(self) -> None:
        """Stop without acknowledging what is held; a new client rejoins the session."""
        old = self.client
        self.generation += 1
        old.stop()
        dropped = 0
        while True:
            try:
                self.deliveries.get_nowait()
            except queue.Empty:
                break
            dropped += 1
        with self.tally.lock:  # what was dropped is no longer held; the broker sends it again
            self.tally.received -= dropped
        self.client = self._start()

    def _work(self) -> None:
        while True:
            batch = [self.deliveries.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.deliveries.get_nowait())
                except queue.Empty:
                    break
            time.sleep(PAUSE_S)
            for payload, handle, generation in batch:
                with self.tally.lock:
                    self.tally.seen[payload] = self.tally.seen.get(payload, 0) + 1
                    self.tally.acknowledged += 1
                if generation == self.generation:
                    self.client.invoke_publish_acknowledgement(handle)


def publish(port: int, ca: LocalCA, index: int, count: int) -> None:
    """`count` QoS 1 messages from one device, as fast as mosquitto_pub sends them."""
    thing = f"bench-device-{index}"
    credentials = ca.issue_device_certificate(thing)
    command = [
        "mosquitto_pub", "-h", LOOPBACK, "-p", str(port), "-V", "mqttv5", "-q", "1",
        "--cafile", str(ca.certificate_path), "--cert", str(credentials.certificate),
        "--key", str(credentials.private_key), "-i", thing,
        "-t", f"sensors/{thing}/telemetry", "-l",
    ]  # fmt: skip
    lines = "".join(f"{index}-{n}\n" for n in range(count))
    subprocess.run(command, input=lines.encode(), check=True, timeout=600)


def run(scenario: str, directory: Path) -> str:
    ca = LocalCA(directory / "ca")
    acl = ("pattern write sensors/%u/telemetry", *reader_acl(SUBSCRIBER, TOPIC_FILTER))
    broker = MosquittoBroker(directory / "broker", ca, acl=acl).start()
    try:
        credentials = ca.issue_device_certificate(SUBSCRIBER)
        subscriber = Subscriber(
            MqttConnection.issued(LOOPBACK, broker.port, credentials, SUBSCRIBER)
        )
        started = time.monotonic()
        share = MESSAGES // PUBLISHERS
        publishers = [
            threading.Thread(target=publish, args=(broker.port, ca, i, share), daemon=True)
            for i in range(PUBLISHERS)
        ]
        for thread in publishers:
            thread.start()
        expected = share * PUBLISHERS
        rejoined = scenario != "reconnect"
        stalled = False
        while True:
            time.sleep(1)
            elapsed = time.monotonic() - started
            if not rejoined and elapsed >= RECONNECT_AFTER_S:
                subscriber.rejoin()
                rejoined = True
            tally = subscriber.tally
            with tally.lock:
                distinct, idle = len(tally.seen), time.monotonic() - tally.last_arrival
                redelivered = sum(n - 1 for n in tally.seen.values())
                held = tally.received - tally.acknowledged
            print(
                f"  {elapsed:5.0f} s  {distinct}/{expected} handled, {held} unacknowledged",
                file=sys.stderr,
                flush=True,
            )
            if distinct >= expected and held == 0:
                break
            if idle >= STALL_S and held == 0:
                stalled = True
                break
        seconds = time.monotonic() - started
        subscriber.client.stop()
    finally:
        broker.stop()
    return (
        f"BROKER_BACKLOG scenario={scenario} messages={expected} "
        f"receive_maximum={subscriber.connection.receive_maximum} "
        f"max_unacknowledged={tally.max_unacknowledged} "
        f"delivered={distinct} redelivered={redelivered} stalled={'yes' if stalled else 'no'} "
        f"seconds={seconds:.0f}"
    )


def main() -> None:
    for scenario in ("steady", "reconnect"):
        print(f"{scenario}: {MESSAGES} messages to a subscriber that falls behind", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="bench-broker-") as directory:
            print(run(scenario, Path(directory)), flush=True)


if __name__ == "__main__":
    main()
