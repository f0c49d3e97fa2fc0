"""One MQTT 5 connection per thing: awsiotsdk over mutual TLS, QoS 1, client id = thing name.

Reconnects are the SDK's: exponential backoff from `min_reconnect_delay_ms` to
`max_reconnect_delay_ms` with full jitter, reset after 30 s of being connected. QoS 1 publishes
that are not acknowledged when the connection drops stay queued in the client and are sent
again after the reconnect (`FAIL_NON_QOS1_PUBLISH_ON_DISCONNECT`). With
`iot_core_flow_control` the client also keeps itself inside IoT Core's per-connection limits
(100 publishes/s, 512 KiB/s).

PUBACK reason codes are classified here: below 0x80 is success (0x10 "no matching subscribers"
included); 0x87 not authorized, 0x90 topic name invalid and 0x99 payload format invalid cannot
succeed by retrying ("fatal"); anything else (quota exceeded, unspecified error, ...) is retried.
A DISCONNECT from the server with reason 0x87 (how IoT Core may answer a publish its policy
forbids) is fatal too.

Alerts: the link subscribes with QoS 1 to its own `sensors/<thing>/alerts` after every successful
connection. The session is clean (clean start on every connect, as for publishing: the spool, not
the broker, keeps what must not be lost), so a subscription never outlives a connection, and a
restarted broker or an expired session cannot leave the device without one. Each subscribe also
brings the topic's retained message, the device's current alert state. Received messages reach
`on_event` as MESSAGE events (topic and payload); the SUBACK as SUBSCRIBED or SUBSCRIBE_FAILED
(reason code 0x80 or above, e.g. 0x87 not authorized), which does not affect publishing.
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from device.config import Credentials, MqttSettings
from device.contract import alerts_topic_for, topic_for

log = logging.getLogger(__name__)

FATAL_PUBACK_CODES = {
    mqtt5.PubackReasonCode.NOT_AUTHORIZED,
    mqtt5.PubackReasonCode.TOPIC_NAME_INVALID,
    mqtt5.PubackReasonCode.PAYLOAD_FORMAT_INVALID,
}
FATAL_DISCONNECT_CODES = {
    mqtt5.DisconnectReasonCode.NOT_AUTHORIZED,
    mqtt5.DisconnectReasonCode.TOPIC_NAME_INVALID,
    mqtt5.DisconnectReasonCode.PAYLOAD_FORMAT_INVALID,
}

REFUSED_CONNACK_CODES = {
    mqtt5.ConnectReasonCode.NOT_AUTHORIZED,
    mqtt5.ConnectReasonCode.BAD_USERNAME_OR_PASSWORD,
    mqtt5.ConnectReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
    mqtt5.ConnectReasonCode.BANNED,
}

_HINTS = {
    "AWS_IO_SOCKET_CONNECTION_REFUSED": "nothing accepts connections there (wrong port?)",
    "AWS_IO_DNS_INVALID_NAME": "the host name cannot be resolved (wrong endpoint?)",
    "AWS_IO_DNS_QUERY_FAILED": "the host name cannot be resolved (wrong endpoint or no DNS?)",
    "AWS_IO_SOCKET_TIMEOUT": "no answer (network down, or a firewall drops the port)",
    "AWS_IO_SOCKET_NO_ROUTE_TO_HOST": "no route to the host (network down?)",
    "AWS_IO_SOCKET_NETWORK_DOWN": "the network is down",
    "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE": (
        "the TLS handshake failed: the broker refused the certificate (issued by a CA it does "
        "not trust, or inactive) or the ca file does not match the broker"
    ),
    "AWS_IO_SOCKET_CLOSED": "the broker closed the connection during setup (certificate refused?)",
    "AWS_ERROR_MQTT_UNEXPECTED_HANGUP": "the broker closed the connection",
}


def _name(code: Any) -> str:
    return str(getattr(code, "name", code))


class Outcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    FATAL = "fatal"


def classify_puback(reason: int | None) -> Outcome:
    """OK below 0x80, FATAL for codes retrying cannot fix, RETRY otherwise."""
    if reason is None or reason < 0x80:
        return Outcome.OK
    return Outcome.FATAL if reason in FATAL_PUBACK_CODES else Outcome.RETRY


def explain(error: BaseException | None, endpoint: str, port: int) -> str:
    """A one-line explanation of a connection error, with a hint where one is known."""
    if error is None:
        return f"{endpoint}:{port}: connection lost"
    name = getattr(error, "name", type(error).__name__)
    if name.startswith("AWS_IO_TLS") and name not in _HINTS:
        hint = _HINTS["AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"]
    else:
        hint = _HINTS.get(name, str(error))
    return f"{endpoint}:{port}: {name}: {hint}"


class EventKind(enum.Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CONNECT_FAILED = "connect_failed"
    STOPPED = "stopped"
    SUBSCRIBED = "subscribed"  # the broker granted the alerts subscription
    SUBSCRIBE_FAILED = "subscribe_failed"  # the broker refused it (detail says why)
    MESSAGE = "message"  # a publish received on the alerts topic (topic, payload)


@dataclass(frozen=True)
class LinkEvent:
    thing: str
    kind: EventKind
    detail: str = ""
    fatal: bool = False  # retrying cannot help: stop
    refused: bool = False  # the broker refused our identity (TLS or CONNACK): show an error
    topic: str = ""  # MESSAGE: the topic it arrived on
    payload: bytes = b""  # MESSAGE: its payload


class MqttLink:
    """The connection of one thing. Events arrive on SDK threads through `on_event`."""

    def __init__(
        self,
        thing_name: str,
        settings: MqttSettings,
        credentials: Credentials,
        on_event: Callable[[LinkEvent], None],
        subscribe_alerts: bool = True,
    ) -> None:
        self.thing_name = thing_name
        self.topic = topic_for(thing_name, settings.topic)
        self.alerts_topic = alerts_topic_for(thing_name) if subscribe_alerts else None
        self.settings = settings
        self._on_event = on_event
        self._connected = threading.Event()
        flow = (
            mqtt5.ExtendedValidationAndFlowControlOptions.AWS_IOT_CORE_DEFAULTS
            if settings.iot_core_flow_control
            else mqtt5.ExtendedValidationAndFlowControlOptions.NONE
        )
        self._client = mqtt5_client_builder.mtls_from_path(
            cert_filepath=str(credentials.certificate),
            pri_key_filepath=str(credentials.private_key),
            ca_filepath=str(credentials.ca),
            endpoint=settings.endpoint,
            port=settings.port,
            client_id=thing_name,
            keep_alive_interval_sec=settings.keep_alive_seconds,
            ping_timeout_ms=min(30_000, settings.keep_alive_seconds * 500),
            session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
            offline_queue_behavior=(
                mqtt5.ClientOperationQueueBehaviorType.FAIL_NON_QOS1_PUBLISH_ON_DISCONNECT
            ),
            retry_jitter_mode=mqtt5.ExponentialBackoffJitterMode.FULL,
            min_reconnect_delay_ms=settings.min_reconnect_delay_ms,
            max_reconnect_delay_ms=settings.max_reconnect_delay_ms,
            ack_timeout_sec=settings.ack_timeout_seconds,
            extended_validation_and_flow_control_options=flow,
            on_lifecycle_connection_success=self._on_success,
            on_lifecycle_connection_failure=self._on_failure,
            on_lifecycle_disconnection=self._on_disconnection,
            on_lifecycle_stopped=self._on_stopped,
            on_publish_received=self._on_publish_received,
        )

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._client.start()

    def stop(self) -> None:
        self._client.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, payload: bytes) -> concurrent.futures.Future[Any]:
        """Publish one reading with QoS 1; the future resolves with the PUBACK."""
        packet = mqtt5.PublishPacket(
            topic=self.topic,
            payload=payload,
            qos=mqtt5.QoS.AT_LEAST_ONCE,
            payload_format_indicator=mqtt5.PayloadFormatIndicator.AWS_MQTT5_PFI_UTF8,
            content_type="application/json",
        )
        return self._client.publish(packet)

    # -- SDK callbacks (SDK threads) -------------------------------------------------------
    def _where(self, error: BaseException | None) -> str:
        return explain(error, self.settings.endpoint, self.settings.port)

    def _on_success(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        self._connected.set()
        self._on_event(LinkEvent(self.thing_name, EventKind.CONNECTED))
        self._subscribe_alerts()

    def _subscribe_alerts(self) -> None:
        """Subscribe (QoS 1) to this thing's alerts; the SUBACK arrives in `_on_suback`."""
        if self.alerts_topic is None:
            return
        subscription = mqtt5.Subscription(self.alerts_topic, mqtt5.QoS.AT_LEAST_ONCE)
        try:
            future = self._client.subscribe(mqtt5.SubscribePacket([subscription]))
        except Exception as err:  # the client is stopping
            log.debug("cannot subscribe to %s: %s", self.alerts_topic, err)
            return
        future.add_done_callback(self._on_suback)

    def _on_suback(self, future: concurrent.futures.Future[Any]) -> None:
        try:
            suback = future.result()
        except Exception as err:  # the connection dropped first: the next one subscribes again
            log.debug("the subscription to %s did not complete: %s", self.alerts_topic, err)
            return
        codes = list(getattr(suback, "reason_codes", None) or [])
        refused = [code for code in codes if int(code) >= 0x80]
        if codes and not refused:
            self._on_event(LinkEvent(self.thing_name, EventKind.SUBSCRIBED, str(self.alerts_topic)))
            return
        reason = ", ".join(_name(code) for code in refused) or "no reason code"
        text = getattr(suback, "reason_string", None)
        detail = f"{self.alerts_topic}: SUBACK {reason}" + (f": {text}" if text else "")
        self._on_event(LinkEvent(self.thing_name, EventKind.SUBSCRIBE_FAILED, detail))

    def _on_publish_received(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        if packet is None:
            return
        event = LinkEvent(
            self.thing_name,
            EventKind.MESSAGE,
            topic=str(packet.topic),
            payload=bytes(packet.payload or b""),
        )
        self._on_event(event)

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        detail = self._where(data.exception)
        connack = data.connack_packet
        refused = getattr(data.exception, "name", "").startswith("AWS_IO_TLS")
        if connack is not None and connack.reason_code is not None:
            detail += f" (CONNACK {_name(connack.reason_code)}: {connack.reason_string or ''})"
            refused = refused or connack.reason_code in REFUSED_CONNACK_CODES
        event = LinkEvent(self.thing_name, EventKind.CONNECT_FAILED, detail, refused=refused)
        self._on_event(event)

    def _on_disconnection(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self._connected.clear()
        packet = data.disconnect_packet
        fatal = packet is not None and packet.reason_code in FATAL_DISCONNECT_CODES
        detail = self._where(data.exception)
        if packet is not None:
            detail += f" (DISCONNECT {_name(packet.reason_code)}: {packet.reason_string or ''})"
        self._on_event(LinkEvent(self.thing_name, EventKind.DISCONNECTED, detail, fatal))

    def _on_stopped(self, data: mqtt5.LifecycleStoppedData) -> None:
        self._connected.clear()
        self._on_event(LinkEvent(self.thing_name, EventKind.STOPPED))
