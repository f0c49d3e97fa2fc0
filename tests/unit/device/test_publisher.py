"""The sender's bookkeeping, with an in-memory link standing in for the broker.

The MQTT path itself is tested against mosquitto in tests/integration/device; here the link
answers with PUBACK reason codes mosquitto cannot be made to send (IoT Core's throttling)."""

import concurrent.futures
import json
import threading
from types import SimpleNamespace

import pytest
from awscrt import mqtt5
from device_fakes import device_env

from device import publisher as publisher_module
from device.config import EXIT_CONFIG, load_settings
from device.display import State
from device.publisher import Publisher
from device.sources.synthetic import SyntheticSource
from device.spool import Spool
from device.transport import EventKind, LinkEvent


class ScriptedLink:
    """Answers each publish at once with the reason code `answer(device, seq, attempt)`."""

    def __init__(self, thing, answer, connected=True, on_start=None):
        self.on_start = on_start
        self.thing_name = thing
        self.topic = f"sensors/{thing}/telemetry"
        self.answer = answer
        self.connected = connected
        self.sent = []
        self.started = self.stopped = False

    def start(self):
        self.started = True
        if self.on_start:
            self.on_start(self)

    def stop(self):
        self.stopped = True

    def publish(self, payload):
        reading = json.loads(payload)
        attempt = sum(1 for r in self.sent if r["seq"] == reading["seq"])
        self.sent.append(reading)
        future = concurrent.futures.Future()
        code = self.answer(reading["device_id"], reading["seq"], attempt)
        future.set_result(
            SimpleNamespace(puback=SimpleNamespace(reason_code=code, reason_string=""))
        )
        return future


class Recorder:
    def __init__(self):
        self.shown = []

    def show(self, state, backlog=0):
        self.shown.append((state, backlog))

    def clear(self):
        self.shown.append((None, 0))


@pytest.fixture
def env(tmp_path):
    return device_env(tmp_path, DEVICE_PUBLISH_MAX_IN_FLIGHT="7")


@pytest.fixture
def settings(env):
    return load_settings(None, environ=env)


def run(settings, source, answer, connected=True, stop_after=None, event=None):
    links = {}

    def factory(thing, credentials, on_event):
        on_start = (lambda link: on_event(event(link.thing_name))) if event else None
        links[thing] = ScriptedLink(thing, answer, connected, on_start)
        return links[thing]

    stop = threading.Event()
    if stop_after is not None:
        threading.Timer(stop_after, stop.set).start()
    display = Recorder()
    code = Publisher(settings, source, link_factory=factory, display=display).run(stop)
    return code, links, display


def ok(device, seq, attempt):
    return mqtt5.PubackReasonCode.SUCCESS


def fleet(n_devices, count):
    names = ["pi"] if n_devices == 1 else [f"pi-{i:03d}" for i in range(1, n_devices + 1)]
    return SyntheticSource(names, count=count, speed=0)


def test_every_reading_is_published_in_order_and_then_deleted(settings):
    code, links, _ = run(settings, fleet(1, 60), ok)
    assert code == 0
    seqs = [r["seq"] for r in links["pi"].sent]
    assert seqs == list(range(seqs[0], seqs[0] + 60))
    assert links["pi"].started and links["pi"].stopped
    spool = Spool(settings.spool.path)
    assert spool.size() == 0
    assert spool.stats().published == 60
    spool.close()


def test_throttled_publishes_are_sent_again_until_accepted(settings, monkeypatch):
    monkeypatch.setattr(publisher_module, "RETRY_BACKOFF", (0.001, 0.01))

    def throttle(device, seq, attempt):
        if seq % 5 == 0 and attempt < 2:
            return mqtt5.PubackReasonCode.QUOTA_EXCEEDED
        return mqtt5.PubackReasonCode.SUCCESS

    code, links, _ = run(settings, fleet(1, 40), throttle)
    assert code == 0
    sent = [r["seq"] for r in links["pi"].sent]
    first = min(sent)
    assert set(sent) == set(range(first, first + 40))
    assert len(sent) == 40 + 2 * len([s for s in set(sent) if s % 5 == 0])
    spool = Spool(settings.spool.path)
    assert spool.size() == 0
    spool.close()


def test_not_authorized_stops_with_exit_78_and_keeps_the_readings(settings):
    def refuse(device, seq, attempt):
        return mqtt5.PubackReasonCode.NOT_AUTHORIZED

    code, links, display = run(settings, fleet(1, 30), refuse)
    assert code == EXIT_CONFIG
    assert len(links["pi"].sent) <= settings.publish.max_in_flight  # no endless retrying
    spool = Spool(settings.spool.path)
    assert spool.size() == 30
    assert "NOT_AUTHORIZED" in spool.stats().state["last_error"]
    spool.close()
    assert display.shown[-1][0] is State.ERROR


def test_while_disconnected_everything_stays_in_the_spool(settings):
    source = SyntheticSource(["pi"], count=0, speed=0)  # endless; stopped from outside
    code, links, display = run(settings, source, ok, connected=False, stop_after=0.5)
    assert code == 0
    assert links["pi"].sent == []
    spool = Spool(settings.spool.path)
    assert spool.size() > 0
    spool.close()
    assert display.shown[-2][0] is State.BUFFERING
    assert display.shown[-1][0] is None  # cleared when stopped


def test_a_fleet_gets_one_link_per_device_with_its_own_seq(env, tmp_path):
    for i in (1, 2, 3):
        folder = tmp_path / f"pi-{i:03d}"
        folder.mkdir()
        (folder / "cert.pem").write_text("pem")
        (folder / "key.pem").write_text("pem")
    settings = load_settings(
        None,
        environ={
            **env,
            "DEVICE_SYNTHETIC_DEVICES": "3",
            "DEVICE_MQTT_CERTIFICATE": str(tmp_path / "{thing}" / "cert.pem"),
            "DEVICE_MQTT_PRIVATE_KEY": str(tmp_path / "{thing}" / "key.pem"),
        },
    )
    code, links, _ = run(settings, fleet(3, 20), ok)
    assert code == 0
    assert sorted(links) == ["pi-001", "pi-002", "pi-003"]
    for thing, link in links.items():
        assert {r["device_id"] for r in link.sent} == {thing}
        seqs = [r["seq"] for r in link.sent]
        assert seqs == list(range(seqs[0], seqs[0] + 20))


def test_a_full_spool_is_counted_and_logged(env, caplog):
    settings = load_settings(None, environ={**env, "DEVICE_SPOOL_MAX_READINGS": "10"})
    source = SyntheticSource(["pi"], count=0, speed=0)
    run(settings, source, ok, connected=False, stop_after=0.5)
    spool = Spool(settings.spool.path)
    assert spool.size() == 10
    assert spool.stats().dropped_oldest > 0
    spool.close()
    assert "spool full (10 readings, policy drop-oldest)" in caplog.text


def test_a_refused_certificate_shows_an_error_while_sampling_goes_on(settings):
    def refused(thing):
        return LinkEvent(thing, EventKind.CONNECT_FAILED, "TLS handshake failed", refused=True)

    source = SyntheticSource(["pi"], count=0, speed=0)
    code, _, display = run(settings, source, ok, False, stop_after=0.5, event=refused)
    assert code == 0  # keeps trying until stopped: the certificate may be activated meanwhile
    assert State.ERROR in [state for state, _ in display.shown]
    spool = Spool(settings.spool.path)
    assert spool.size() > 0
    assert "TLS handshake failed" in spool.stats().state["last_error"]
    spool.close()
