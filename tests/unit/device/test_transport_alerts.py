"""MqttLink's side of alerts without a broker: the SUBACK and received publishes become events.

mosquitto 2.0 grants every subscription and applies its read ACL when it delivers, so a refused
SUBACK (IoT Core's answer to a subscription its policy forbids) is only tested here."""

import concurrent.futures
from types import SimpleNamespace

import pytest
from awscrt import mqtt5

from device.config import Credentials, MqttSettings
from device.transport import EventKind, MqttLink
from localcloud.iot.ca import LocalCA


@pytest.fixture
def link_and_events(tmp_path):
    creds = LocalCA(tmp_path / "ca").issue_device_certificate("pi")
    events = []
    credentials = Credentials(creds.certificate, creds.private_key, creds.ca)
    link = MqttLink("pi", MqttSettings(endpoint="127.0.0.1"), credentials, events.append)
    return link, events


def suback(*codes, reason_string=None):
    future = concurrent.futures.Future()
    future.set_result(SimpleNamespace(reason_codes=list(codes), reason_string=reason_string))
    return future


def test_the_alerts_topic_is_derived_from_the_thing_name(link_and_events, tmp_path):
    link, _ = link_and_events
    assert link.alerts_topic == "sensors/pi/alerts"  # a normal topic: alerts come back on it
    # Readings go through Basic Ingest, by default to the default stack's rule.
    assert link.topic == "$aws/rules/sensor_pipeline_telemetry/sensors/pi/telemetry"
    creds = LocalCA(tmp_path / "ca").issue_device_certificate("pi")
    credentials = Credentials(creds.certificate, creds.private_key, creds.ca)
    staged = MqttSettings(
        endpoint="127.0.0.1",
        topic="$aws/rules/sensor_pipeline_telemetry_dev/sensors/{thing}/telemetry",
    )
    other = MqttLink("pi", staged, credentials, print, subscribe_alerts=False)
    assert other.topic == "$aws/rules/sensor_pipeline_telemetry_dev/sensors/pi/telemetry"


def test_a_granted_subscription_is_an_event(link_and_events):
    link, events = link_and_events
    link._on_suback(suback(mqtt5.SubackReasonCode.GRANTED_QOS_1))
    assert [(e.kind, e.detail) for e in events] == [(EventKind.SUBSCRIBED, "sensors/pi/alerts")]


def test_a_refused_subscription_says_why(link_and_events):
    link, events = link_and_events
    link._on_suback(suback(mqtt5.SubackReasonCode.NOT_AUTHORIZED, reason_string="policy"))
    assert [(e.kind, e.detail) for e in events] == [
        (EventKind.SUBSCRIBE_FAILED, "sensors/pi/alerts: SUBACK NOT_AUTHORIZED: policy")
    ]
    assert not events[0].fatal


def test_a_subscription_cut_short_by_a_disconnect_is_left_to_the_next_connection(
    link_and_events,
):
    link, events = link_and_events
    future = concurrent.futures.Future()
    future.set_exception(RuntimeError("AWS_ERROR_MQTT5_USER_REQUESTED_STOP"))
    link._on_suback(future)
    assert events == []


def test_a_received_publish_becomes_a_message_event(link_and_events):
    link, events = link_and_events
    packet = mqtt5.PublishPacket(topic="sensors/pi/alerts", payload=b'{"schema":1}')
    link._on_publish_received(mqtt5.PublishReceivedData(publish_packet=packet))
    assert [(e.kind, e.topic, e.payload) for e in events] == [
        (EventKind.MESSAGE, "sensors/pi/alerts", b'{"schema":1}')
    ]


def test_a_link_can_be_made_without_the_subscription(tmp_path):
    creds = LocalCA(tmp_path / "ca").issue_device_certificate("pi")
    credentials = Credentials(creds.certificate, creds.private_key, creds.ca)
    link = MqttLink(
        "pi", MqttSettings(endpoint="127.0.0.1"), credentials, print, subscribe_alerts=False
    )
    assert link.alerts_topic is None
    link._subscribe_alerts()  # nothing to subscribe to, nothing raised
