"""What a local MQTT client logs when its connection ends (`disconnect_reason`)."""

from __future__ import annotations

from awscrt import mqtt5
from awscrt.exceptions import from_code

from localcloud.iot.rules import disconnect_reason

# aws-c-mqtt's error codes, as awscrt names them (AwsCrtError.name)
USER_REQUESTED_STOP = "AWS_ERROR_MQTT5_USER_REQUESTED_STOP"
UNEXPECTED_HANGUP = "AWS_ERROR_MQTT_UNEXPECTED_HANGUP"


def crt_error(name: str) -> Exception:
    for code in range(5120, 5500):  # aws-c-mqtt's range
        error = from_code(code)
        if error.name == name:
            return error
    raise LookupError(name)


def test_a_stop_the_client_asked_for_is_no_loss():
    data = mqtt5.LifecycleDisconnectData(exception=crt_error(USER_REQUESTED_STOP))
    assert disconnect_reason(data) is None


def test_the_broker_s_disconnect_names_its_reason_code_and_string():
    packet = mqtt5.DisconnectPacket(
        reason_code=mqtt5.DisconnectReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
        reason_string="too many in flight",
    )
    data = mqtt5.LifecycleDisconnectData(
        disconnect_packet=packet, exception=crt_error(UNEXPECTED_HANGUP)
    )
    assert disconnect_reason(data) == (
        "the broker sent DISCONNECT RECEIVE_MAXIMUM_EXCEEDED (too many in flight)"
    )


def test_a_hang_up_without_a_disconnect_is_the_client_s_error():
    data = mqtt5.LifecycleDisconnectData(exception=crt_error(UNEXPECTED_HANGUP))
    assert disconnect_reason(data) == (
        "AWS_ERROR_MQTT_UNEXPECTED_HANGUP: The connection was closed unexpectedly."
    )
