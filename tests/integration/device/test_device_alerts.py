"""Alerts back to the device, through a real mosquitto with mutual TLS.

A test client with the certificate of `alerter` (ACL: write `sensors/+/alerts`) plays the cloud
and publishes alerts as the contract says (QoS 1, retained). The publisher of thing `pi-a` runs
in this process with a synthetic source, its real MqttLink and a fake LED matrix; the tests wait
for pictures on that matrix (polling with a deadline, no fixed sleeps). One test runs
`python -m device publish` as a subprocess (no LEDs: the log and `status` show the alert)."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from awscrt import mqtt5
from device_harness import OBSERVER, mqtt_client, run_device, start_publisher, write_config

from device.config import Credentials, load_settings
from device.display import State, StatusDisplay, render
from device.publisher import Publisher
from device.sources import open_source
from device.status import status_report
from device.transport import EventKind, LinkEvent, MqttLink
from localcloud.iot.broker import DEFAULT_ACL, MosquittoBroker, reader_acl
from localcloud.iot.ca import LocalCA

pytestmark = pytest.mark.integration

A, B = "pi-a", "pi-b"
ALERTER = "alerter"
ALERTER_ACL = (f"user {ALERTER}", "topic write sensors/+/alerts")


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate}")
        time.sleep(0.05)


def alert(device: str, seq: int, **levels: str) -> bytes:
    """A schema 1 alert of `device` whose metric levels are `levels` (first: the transition)."""
    rank = {"normal": 0, "warning": 1, "critical": 2}
    metric, level = next(iter(levels.items()))
    device_level = max(levels.values(), key=rank.__getitem__)
    return json.dumps(
        {
            "schema": 1,
            "alert_id": f"{device}:{metric}:{seq}",
            "device_id": device,
            "metric": metric,
            "level": level,
            "previous_level": "normal" if level != "normal" else "warning",
            "transition": "recovered" if level == "normal" else "raised",
            "side": "high",
            "value": 33.0,
            "threshold": 30.0,
            "hysteresis": 0.5,
            "threshold_source": "context:*",
            "seq": seq,
            "ts": "2024-06-01T12:00:00.000Z",
            "evaluated_at": f"2024-06-01T12:00:{seq % 60:02d}.000Z",
            "levels": levels,
            "device_level": device_level,
        }
    ).encode()


class Client:
    """A plain MQTT 5 client with the certificate of `name` that records what it receives."""

    def __init__(self, broker: MosquittoBroker, ca: LocalCA, name: str, client_id: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        connected = threading.Event()
        self.client = mqtt_client(broker, ca, name, client_id, self._on_publish, connected)
        self.client.start()
        assert connected.wait(15), f"{client_id} could not connect"

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        with self._lock:
            packet = data.publish_packet
            self.received.append((packet.topic, bytes(packet.payload or b"")))

    def topics(self) -> list[str]:
        with self._lock:
            return [topic for topic, _ in self.received]

    def subscribe(self, topic_filter: str) -> list[mqtt5.SubackReasonCode]:
        packet = mqtt5.SubscribePacket([mqtt5.Subscription(topic_filter, mqtt5.QoS.AT_LEAST_ONCE)])
        return list(self.client.subscribe(packet).result(15).reason_codes)

    def publish_alert(self, device: str, payload: bytes) -> None:
        """Publish as the cloud does (QoS 1, retained) and wait for the PUBACK."""
        packet = mqtt5.PublishPacket(
            topic=f"sensors/{device}/alerts",
            payload=payload,
            qos=mqtt5.QoS.AT_LEAST_ONCE,
            retain=True,
        )
        result = self.client.publish(packet).result(30)
        assert result.puback.reason_code < 0x80, result.puback  # 0x10: no subscriber yet

    def stop(self) -> None:
        self.client.stop()


class FakeMatrix:
    """An LED matrix that remembers the last picture (thread-safe: the publisher draws from its
    own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames: list[list[list[int]] | None] = []

    def set_pixels(self, pixel_list: list[list[int]]) -> None:
        with self._lock:
            self.frames.append([list(p) for p in pixel_list])

    def clear(self) -> None:
        with self._lock:
            self.frames.append(None)

    def shows(self, state: State) -> bool:
        with self._lock:
            return bool(self.frames) and self.frames[-1] == render(state)

    def ever_showed(self, state: State) -> bool:
        with self._lock:
            return render(state) in self.frames


class RunningPublisher:
    """`Publisher.run` in a thread, with real MqttLinks whose events are recorded."""

    def __init__(self, config: Path) -> None:
        self.settings = load_settings(config)
        self.matrix = FakeMatrix()
        self.events: list[LinkEvent] = []
        self._lock = threading.Lock()
        self.source = open_source(self.settings)
        self.publisher = Publisher(
            self.settings, self.source, self._link, StatusDisplay(self.matrix)
        )
        self.stop_event = threading.Event()
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self.thread.start()

    def _link(
        self, thing: str, credentials: Credentials, on_event: Callable[[LinkEvent], None]
    ) -> MqttLink:
        def record(event: LinkEvent) -> None:
            with self._lock:
                self.events.append(event)
            on_event(event)

        return MqttLink(thing, self.settings.mqtt, credentials, record)

    def _run(self) -> None:
        self.exit_code = self.publisher.run(self.stop_event)

    def kinds(self, kind: EventKind) -> list[LinkEvent]:
        with self._lock:
            return [e for e in self.events if e.kind is kind]

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)
        self.source.close()


@pytest.fixture
def broker(tmp_path: Path, ca: LocalCA) -> Iterator[MosquittoBroker]:
    acl = DEFAULT_ACL + reader_acl(OBSERVER) + ALERTER_ACL
    with MosquittoBroker(tmp_path / "broker", ca, acl=acl) as b:
        yield b


@pytest.fixture
def cloud(broker: MosquittoBroker, ca: LocalCA) -> Iterator[Client]:
    client = Client(broker, ca, ALERTER, "alerter")
    yield client
    client.stop()


LIVE = "[synthetic]\ninterval_seconds = 0.2\n"  # real time, forever


@pytest.fixture
def publisher_a(
    tmp_path: Path, broker: MosquittoBroker, ca: LocalCA
) -> Iterator[Callable[[], RunningPublisher]]:
    config = write_config(tmp_path / "a.toml", broker, ca, A, "synthetic", extra=LIVE)
    started: list[RunningPublisher] = []

    def start() -> RunningPublisher:
        started.append(RunningPublisher(config))
        return started[-1]

    yield start
    for running in started:
        running.stop()
        assert running.exit_code == 0


def test_a_running_publisher_shows_amber_then_red_then_its_usual_picture(
    publisher_a, cloud, observer
):
    running = publisher_a()
    wait_for(lambda: running.kinds(EventKind.SUBSCRIBED), what="the alerts subscription")
    assert running.kinds(EventKind.SUBSCRIBED)[0].detail == f"sensors/{A}/alerts"
    wait_for(lambda: running.matrix.shows(State.CONNECTED), what="the green tick")

    cloud.publish_alert(A, alert(A, 10, temperature="warning", humidity="normal"))
    wait_for(lambda: running.matrix.shows(State.ALERT_WARNING), what="the amber sign")
    cloud.publish_alert(A, alert(A, 11, humidity="critical", temperature="warning"))
    wait_for(lambda: running.matrix.shows(State.ALERT_CRITICAL), what="the red sign")
    report = status_report(Path(running.settings.spool.path))
    assert report["alert_level"] == "critical"
    assert report["alerts"][A]["levels"] == {"humidity": "critical", "temperature": "warning"}
    assert report["alerts_subscription"] == "subscribed"

    cloud.publish_alert(A, alert(A, 12, humidity="normal", temperature="normal"))
    wait_for(lambda: running.matrix.shows(State.CONNECTED), what="the tick after recovery")
    assert status_report(Path(running.settings.spool.path))["alert_level"] == "normal"
    # publishing went on all along
    wait_for(lambda: len(observer.distinct(A)) >= 5, what="readings of pi-a")


def test_a_retained_alert_is_shown_right_after_connecting(publisher_a, cloud):
    cloud.publish_alert(A, alert(A, 20, pressure="critical"))
    cloud.publish_alert(B, alert(B, 21, pressure="warning"))
    running = publisher_a()
    wait_for(lambda: running.matrix.shows(State.ALERT_CRITICAL), what="the red sign")
    assert not running.matrix.ever_showed(State.ALERT_WARNING)
    assert {e.topic for e in running.kinds(EventKind.MESSAGE)} == {f"sensors/{A}/alerts"}


def test_an_alert_for_another_device_never_reaches_it(publisher_a, cloud):
    running = publisher_a()
    wait_for(lambda: running.kinds(EventKind.SUBSCRIBED), what="the alerts subscription")
    cloud.publish_alert(B, alert(B, 30, temperature="critical"))
    cloud.publish_alert(A, alert(A, 31, temperature="warning"))  # the fence: arrives after
    wait_for(lambda: running.matrix.shows(State.ALERT_WARNING), what="the amber sign")
    assert [e.topic for e in running.kinds(EventKind.MESSAGE)] == [f"sensors/{A}/alerts"]
    assert not running.matrix.ever_showed(State.ALERT_CRITICAL)


def test_a_device_certificate_cannot_read_another_device_s_alerts(broker, ca, cloud):
    cloud.publish_alert(B, alert(B, 40, temperature="critical"))  # retained before subscribing
    spy = Client(broker, ca, A, "pi-a-spy")  # A's certificate, another client id
    try:
        codes = {f: spy.subscribe(f) for f in (f"sensors/{B}/alerts", "sensors/+/alerts")}
        for granted_or_refused in codes.values():
            assert granted_or_refused[0] in (
                mqtt5.SubackReasonCode.GRANTED_QOS_1,
                mqtt5.SubackReasonCode.NOT_AUTHORIZED,
            )
        assert spy.subscribe(f"sensors/{A}/alerts") == [mqtt5.SubackReasonCode.GRANTED_QOS_1]
        cloud.publish_alert(B, alert(B, 41, temperature="warning"))
        cloud.publish_alert(A, alert(A, 42, temperature="warning"))  # the fence
        wait_for(lambda: f"sensors/{A}/alerts" in spy.topics(), what="A's own alert")
        assert all(topic == f"sensors/{A}/alerts" for topic in spy.topics())
    finally:
        spy.stop()


def status_text(config: Path) -> str:
    return run_device("status", "--config", str(config)).stdout


def test_without_leds_the_log_and_status_show_alerts_also_after_a_broker_restart(
    tmp_path, broker, ca, cloud
):
    config = write_config(tmp_path / "c.toml", broker, ca, A, "synthetic", extra=LIVE)
    check = run_device("check", "--config", str(config))
    assert f"ok: {A} receives its alerts on sensors/{A}/alerts" in check.stdout, check.stderr
    log = tmp_path / "publisher.log"
    process = start_publisher(config, log)
    try:
        wait_for(lambda: "receives its alerts on" in log.read_text(), what="the subscription")
        cloud.publish_alert(A, alert(A, 50, temperature="critical"))
        wait_for(lambda: "alert level:    critical" in status_text(config), what="status")
        assert re.search(
            rf"WARNING device.publisher: {A} alert {A}:temperature:50: temperature raised to "
            "critical",
            log.read_text(),
        )
        assert "  pi-a: critical (temperature critical)" in status_text(config)

        broker.restart()
        cloud.publish_alert(A, alert(A, 51, temperature="normal"))
        wait_for(lambda: "alert level:    normal, last alert" in status_text(config), 60)
        assert "temperature recovered to normal" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-3000:]
