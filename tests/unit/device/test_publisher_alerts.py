"""The publisher's alert handling, with an in-memory link delivering alert messages.

Each publish makes the link deliver the next scripted event (with at most one publish in flight,
the sender handles them one loop at a time), so every state reaches the display in turn."""

import concurrent.futures
import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from awscrt import mqtt5
from device_fakes import device_env

from device.config import load_settings
from device.display import State
from device.publisher import Publisher
from device.sources.synthetic import SyntheticSource
from device.spool import Spool
from device.status import format_status, status_report
from device.transport import EventKind, LinkEvent

TOPIC = "sensors/pi/alerts"


def alert(level_of, seq, **changes):
    """An alert of `pi` whose levels are `level_of` (metric -> level)."""
    rank = {"normal": 0, "warning": 1, "critical": 2}
    device_level = max(level_of.values(), key=rank.__getitem__)
    doc = {
        "schema": 1,
        "alert_id": f"pi:temperature:{seq}",
        "device_id": "pi",
        "metric": "temperature",
        "level": level_of["temperature"],
        "previous_level": "normal",
        "transition": "raised" if device_level != "normal" else "recovered",
        "side": "high",
        "value": 35.0,
        "threshold": 30.0,
        "hysteresis": 0.5,
        "threshold_source": "context:*",
        "seq": seq,
        "ts": "2024-06-01T12:00:00.000Z",
        "evaluated_at": f"2024-06-01T12:00:{seq:02d}.000Z",
        "levels": level_of,
        "device_level": device_level,
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def message(payload, topic=TOPIC):
    return LinkEvent("pi", EventKind.MESSAGE, topic=topic, payload=payload)


class AlertingLink:
    """Connects at start, acknowledges every publish at once and then delivers the next
    scripted event."""

    def __init__(self, thing, on_event, script):
        self.thing_name = thing
        self.topic = f"sensors/{thing}/telemetry"
        self.connected = True
        self.on_event = on_event
        self.script = list(script)
        self.sent = 0

    def start(self):
        self.on_event(LinkEvent(self.thing_name, EventKind.CONNECTED))

    def stop(self):
        pass

    def publish(self, payload):
        self.sent += 1
        future = concurrent.futures.Future()
        puback = SimpleNamespace(reason_code=mqtt5.PubackReasonCode.SUCCESS, reason_string="")
        future.set_result(SimpleNamespace(puback=puback))
        if self.script:
            self.on_event(self.script.pop(0))
        return future


class Recorder:
    def __init__(self, matrix=None):
        self.matrix = matrix
        self.shown = []

    def show(self, state, backlog=0):
        self.shown.append(state)

    def clear(self):
        self.shown.append(None)


@pytest.fixture
def settings(tmp_path):
    return load_settings(None, environ=device_env(tmp_path, DEVICE_PUBLISH_MAX_IN_FLIGHT="1"))


def run(settings, script, display, count=30):
    links = {}

    def factory(thing, credentials, on_event):
        links[thing] = AlertingLink(thing, on_event, script)
        return links[thing]

    source = SyntheticSource(["pi"], count=count, speed=0)
    code = Publisher(settings, source, link_factory=factory, display=display).run(threading.Event())
    return code, links["pi"]


def distinct_in_turn(states):
    out = []
    for state in states:
        if state is not None and (not out or out[-1] is not state):
            out.append(state)
    return out


WARNING = alert({"temperature": "warning", "humidity": "normal"}, 1)
CRITICAL = alert({"temperature": "critical", "humidity": "normal"}, 2, previous_level="warning")
RECOVERED = alert({"temperature": "normal", "humidity": "normal"}, 3, previous_level="critical")


def test_the_display_follows_the_device_level_and_returns_after_recovery(settings):
    display = Recorder(matrix=object())
    code, link = run(settings, [message(WARNING), message(CRITICAL), message(RECOVERED)], display)
    assert code == 0
    assert link.sent == 30  # publishing went on throughout
    shown = distinct_in_turn(display.shown)
    first = shown.index(State.ALERT_WARNING)
    assert shown[first : first + 2] == [State.ALERT_WARNING, State.ALERT_CRITICAL]
    assert shown[first + 2] in (State.CONNECTED, State.BUFFERING)
    assert State.ALERT_WARNING not in shown[first + 2 :]
    assert State.ALERT_CRITICAL not in shown[first + 2 :]


def test_bad_messages_are_logged_with_the_reason_and_ignored(settings, caplog):
    script = [
        message(WARNING),
        message(b"{broken"),
        message(alert({"temperature": "critical"}, 4, device_id="pi-2")),
        message(CRITICAL, topic="sensors/pi-2/alerts"),
        message(alert({"temperature": "critical"}, 5, schema=2)),
    ]
    display = Recorder()
    with caplog.at_level(logging.WARNING, logger="device"):
        code, link = run(settings, script, display)
    assert code == 0 and link.sent == 30
    text = caplog.text
    assert "pi: ignored a message on sensors/pi/alerts: the payload is not JSON" in text
    assert "the alert is for device 'pi-2', not for 'pi'" in text
    assert "arrived on 'sensors/pi-2/alerts', not on pi's alerts topic" in text
    assert "unsupported schema 2" in text
    shown = [s for s in display.shown if s is not None]
    assert shown[-1] is State.ALERT_WARNING  # the last valid message still stands


def test_without_leds_transitions_are_logged_as_warnings(settings, caplog):
    with caplog.at_level(logging.INFO, logger="device"):
        run(settings, [message(WARNING), message(WARNING), message(RECOVERED)], Recorder())
    alerts = [r for r in caplog.records if "alert pi:temperature:" in r.getMessage()]
    assert [r.levelno for r in alerts] == [logging.WARNING, logging.WARNING]  # once each
    assert "temperature raised to warning" in alerts[0].getMessage()
    assert "device level normal" in alerts[1].getMessage()


def test_with_leds_transitions_are_logged_as_info(settings, caplog):
    with caplog.at_level(logging.INFO, logger="device"):
        run(settings, [message(CRITICAL)], Recorder(matrix=object()))
    alerts = [r for r in caplog.records if "alert pi:temperature:2" in r.getMessage()]
    assert [r.levelno for r in alerts] == [logging.INFO]


def test_the_state_file_and_status_show_the_alert(settings):
    run(settings, [message(WARNING), message(CRITICAL)], Recorder())
    spool = Spool(settings.spool.path, create=False)
    try:
        state = spool.stats().state
    finally:
        spool.close()
    assert state["alert_level"] == "critical"
    assert state["last_alert_at"] == "2024-06-01T12:00:02.000Z"
    per_thing = json.loads(state["alerts"])["pi"]
    assert per_thing["levels"] == {"humidity": "normal", "temperature": "critical"}
    assert per_thing["alert_id"] == "pi:temperature:2"
    report = status_report(Path(settings.spool.path))
    assert report["alert_level"] == "critical"
    assert report["alerts"]["pi"]["device_level"] == "critical"
    text = format_status(report)
    assert "alert level:    critical (last known), last alert 2024-06-01T12:00:02.000Z" in text
    assert "  pi: critical (humidity normal, temperature critical)" in text
    assert "temperature raised to critical" in text


def test_a_refused_subscription_is_logged_once_and_publishing_goes_on(settings, caplog):
    refused = LinkEvent(
        "pi", EventKind.SUBSCRIBE_FAILED, "sensors/pi/alerts: SUBACK NOT_AUTHORIZED"
    )
    display = Recorder()
    with caplog.at_level(logging.WARNING, logger="device"):
        code, link = run(settings, [refused, refused], display)
    assert code == 0 and link.sent == 30
    errors = [r for r in caplog.records if "refused the subscription" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    assert "SUBACK NOT_AUTHORIZED" in errors[0].getMessage()
    assert State.ERROR not in display.shown


def test_status_before_any_alert_says_normal(settings):
    run(settings, [], Recorder(), count=3)
    text = format_status(status_report(Path(settings.spool.path)))
    assert "alert level:    normal (last known), no alert received" in text
