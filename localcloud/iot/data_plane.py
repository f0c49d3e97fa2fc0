"""The IoT Core data plane on one machine: HTTP Publish, carried to mosquitto over MQTT.

`IotDataServer(mqtt)` listens on 127.0.0.1 and answers what botocore's `iot-data` client sends
for `Publish` (rest-json): `POST /topics/{topic}` with the topic URL-encoded in the path, the
query parameters `qos` (0 or 1, default 0) and `retain` (`true`/`false`), and the payload as
the body (what the alerter sends). The MQTT 5 properties of Publish (`contentType`,
`responseTopic`, `messageExpiry`, the `x-amz-mqtt5-*` headers) are refused with a 400 naming
them rather than dropped. Unchanged boto3 code (`boto3.client("iot-data")` with
`AWS_ENDPOINT_URL_IOT_DATA_PLANE` pointing here: botocore names the variable after the service
id "IoT Data Plane") and the AWS CLI (`aws iot-data publish`) reach it.

The message is published to the local broker with that QoS and retain flag by one MQTT 5 client
(mutual TLS, awscrt, like the topic rule engine) whose certificate CN and client id are
`IOT_DATA_CLIENT_ID` (`localcloud-iot-data`); the broker's ACL must let it write the topics
(`localcloud.iot.broker.writer_acl`). A QoS 1 publish is answered 200 only once the broker has
acknowledged it (PUBACK); a QoS 0 publish once it is written to the connection.

Errors, as IoT Core answers them (`x-amzn-ErrorType` header, `{"message": ...}` body):
- 400 `InvalidRequestException`: a topic that is empty, longer than 256 bytes, has more than 7
  slashes, contains `+` or `#`, or starts with `$`; a `qos` other than 0 or 1; malformed
  parameters or headers.
- 413 `RequestEntityTooLargeException`: a payload above 128 KiB.
- 401 `UnauthorizedException`: the broker refused the publish (PUBACK "not authorized").
- 500 `InternalFailureException`: the broker did not acknowledge in time or refused otherwise.
- Other data-plane operations (`GetRetainedMessage`, `ListRetainedMessages`, shadows,
  connections) get 400 `InvalidRequestException` naming the operation; other methods on
  `/topics/...` 405 `MethodNotAllowedException`; unknown paths 404 `ResourceNotFoundException`.

IAM: a request signed by a role session (a local Lambda function's) needs `iot:Publish`, and
`iot:RetainPublish` for a retained message, on `arn:aws:iot:<region>:<account>:topic/<topic>` in
the role's identity policies; a denial is 403 `ForbiddenException` (whose message here names the
missing action; IoT Core says "Forbidden").

Differences from AWS:
- The signature is not verified; a request signed with the account's own key, or not signed,
  is not checked. The data plane's identity may write every topic the broker's ACL grants it.
- Only Publish is served; retained messages can be read by subscribing (mosquitto keeps them
  in its persistence file), not through GetRetainedMessage or ListRetainedMessages. No shadows.
- IoT Core limits retained messages (size, rate, count per account) and publish rates; here only
  the 128 KiB message size is checked.
- The subscribers see the data plane's client id as the publisher (IoT Core shows none for an
  HTTP publish); `clientid()` in a topic rule is the empty string locally anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from localcloud.core.aws import arn
from localcloud.core.http import HttpService, Request, Response
from localcloud.core.iam import IamCheck, denial
from localcloud.iot.ca import DeviceCredentials
from localcloud.iot.rules import MqttConnection

log = logging.getLogger("localcloud.iot_data")
IOT_DATA_CLIENT_ID: Final = "localcloud-iot-data"
ENDPOINT_VARIABLE: Final = "AWS_ENDPOINT_URL_IOT_DATA_PLANE"  # what botocore reads
TOPIC_PREFIX: Final = "/topics/"
MAX_PAYLOAD_BYTES: Final = 128 * 1024
MAX_TOPIC_BYTES: Final = 256
MAX_TOPIC_SLASHES: Final = 7
# MQTT 5 properties of Publish that nothing here sends; refused rather than dropped unseen.
MQTT5_PARAMETERS: Final = frozenset({"contentType", "responseTopic", "messageExpiry"})
MQTT5_HEADERS: Final = frozenset(
    f"x-amz-mqtt5-{name}"
    for name in ("user-properties", "payload-format-indicator", "correlation-data")
)
OTHER_OPERATIONS: Final = {
    "retainedMessage": "GetRetainedMessage / ListRetainedMessages",
    "things": "the Device Shadow operations",
    "connections": "GetConnection / DeleteConnection",
    "subscriptions": "ListSubscriptions",
}


class DataPlaneError(Exception):
    """An error answered to the caller with IoT Core's status and error type."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _invalid(message: str) -> DataPlaneError:
    return DataPlaneError(400, "InvalidRequestException", message)


def check_publish_topic(topic: str) -> None:
    """Refuse a topic IoT Core would not accept for Publish."""
    if not topic:
        raise _invalid("the topic is empty")
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise _invalid(f"the topic is longer than {MAX_TOPIC_BYTES} bytes")
    if topic.count("/") > MAX_TOPIC_SLASHES:
        raise _invalid(f"the topic has more than {MAX_TOPIC_SLASHES} forward slashes")
    if "+" in topic or "#" in topic:
        raise _invalid(f"the topic {topic!r} contains a wildcard (+ or #)")
    if topic.startswith("$"):
        raise _invalid(f"the topic {topic!r} is reserved (starts with $)")


@dataclass(frozen=True)
class PublishRequest:
    """What a Publish request asks for, checked."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False

    @classmethod
    def parse(cls, path: str, headers: dict[str, str], payload: bytes) -> PublishRequest:
        """From the request's raw path (with query), lower-cased headers and body."""
        parts = urlsplit(path)
        topic = unquote(parts.path[len(TOPIC_PREFIX) :])
        check_publish_topic(topic)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        extras = sorted(set(query) & MQTT5_PARAMETERS) + sorted(set(headers) & MQTT5_HEADERS)
        if extras:
            raise _invalid(f"{', '.join(extras)}: not supported by the local IoT data plane")
        qos = _integer(query.get("qos", "0"), "qos")
        if qos not in (0, 1):
            raise _invalid(f"qos {qos} is not supported (0 or 1)")
        retain = query.get("retain", "false").lower()
        if retain not in ("true", "false"):
            raise _invalid(f"retain {retain!r} is not true or false")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise DataPlaneError(
                413,
                "RequestEntityTooLargeException",
                f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes",
            )
        return cls(topic=topic, payload=payload, qos=qos, retain=retain == "true")

    def packet(self) -> mqtt5.PublishPacket:
        return mqtt5.PublishPacket(
            topic=self.topic,
            payload=self.payload,
            qos=mqtt5.QoS(self.qos),
            retain=self.retain,
        )


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _invalid(f"{name} {value!r} is not an integer") from None


class BrokerPublisher:
    """One MQTT 5 client publishing for the data plane."""

    def __init__(self, mqtt: MqttConnection, ack_timeout_seconds: float = 10.0) -> None:
        self.mqtt = mqtt
        self.ack_timeout_seconds = ack_timeout_seconds
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._client: Any = None

    def start(self, timeout: float = 30.0) -> BrokerPublisher:
        self._stopped.clear()
        self._client = mqtt5_client_builder.mtls_from_path(
            **self.mqtt.client_options(),
            session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
            **self.mqtt.lifecycle_options(self._connected, self._stopped, "IoT data plane"),
        )
        self._client.start()
        if not self._connected.wait(timeout):
            self.stop()
            raise TimeoutError(
                f"the IoT data plane could not connect to {self.mqtt.host}:{self.mqtt.port} "
                f"as {self.mqtt.client_id!r} within {timeout}s"
            )
        return self

    def publish(self, request: PublishRequest) -> None:
        """Publish; for QoS 1 return once the broker acknowledged, else raise DataPlaneError."""
        if self._client is None:
            raise DataPlaneError(500, "InternalFailureException", "the data plane is stopped")
        future: Future[Any] = self._client.publish(request.packet())
        try:
            completion = future.result(self.ack_timeout_seconds)
        except TimeoutError:
            raise DataPlaneError(
                500,
                "InternalFailureException",
                f"the broker did not acknowledge within {self.ack_timeout_seconds}s",
            ) from None
        except Exception as err:
            raise DataPlaneError(500, "InternalFailureException", f"publish failed: {err}") from err
        puback = getattr(completion, "puback", None)
        if request.qos == 0 or puback is None:
            return
        code = puback.reason_code
        if code in (mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS):
            return
        if code == mqtt5.PubackReasonCode.NOT_AUTHORIZED:
            raise DataPlaneError(
                401,
                "UnauthorizedException",
                f"the broker's ACL does not let {self.mqtt.client_id} publish to {request.topic!r}",
            )
        raise DataPlaneError(
            500, "InternalFailureException", f"the broker refused the publish: {code.name}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self._client is None:
            return
        client, self._client = self._client, None
        client.stop()
        if not self._stopped.wait(timeout):
            log.warning("the data plane's MQTT client did not report stopped within %ss", timeout)
        self._connected.clear()


def _unknown(path: str) -> DataPlaneError:
    first = path.strip("/").split("/", 1)[0]
    if first in OTHER_OPERATIONS:
        return _invalid(
            f"{OTHER_OPERATIONS[first]} is not served by the local IoT data plane "
            "(only Publish, POST /topics/{topic})"
        )
    return DataPlaneError(
        404,
        "ResourceNotFoundException",
        f"no operation at {path} (the local IoT data plane serves Publish only)",
    )


def _reply(
    status: int, payload: dict[str, Any] | None, request_id: str, error: str = ""
) -> Response:
    data = json.dumps(payload).encode() if payload is not None else b""
    response = Response(data, status, content_type="application/json")
    response.headers["x-amzn-RequestId"] = request_id
    if error:
        response.headers["x-amzn-ErrorType"] = error
    return response


class IotDataServer(HttpService):
    """The local IoT data plane endpoint (Publish) on a loopback port; a context manager."""

    logger = log

    def __init__(
        self,
        mqtt: MqttConnection,
        port: int | None = None,
        *,
        ack_timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__(port)
        self.mqtt = mqtt
        self.publisher = BrokerPublisher(mqtt, ack_timeout_seconds)
        self._lock = threading.Lock()
        self.published = 0  # Publish requests answered 200
        self._iam = IamCheck()

    def env(self) -> dict[str, str]:
        """The variables that point boto3 and the AWS CLI's `iot-data` at this endpoint: the one
        botocore reads, and its older spelling."""
        return {ENDPOINT_VARIABLE: self.endpoint, "AWS_ENDPOINT_URL_IOT_DATA": self.endpoint}

    def start(self) -> IotDataServer:
        self.publisher.start()
        self.published = 0
        return super().start()

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        raw_path = request.environ.get("REQUEST_URI", request.full_path)
        path = urlsplit(raw_path).path
        try:
            body = request.get_data()
            if not path.startswith(TOPIC_PREFIX):
                raise _unknown(path)
            if request.method != "POST":
                raise DataPlaneError(
                    405, "MethodNotAllowedException", f"{request.method} is not allowed on {path}"
                )
            headers = {k.lower(): v for k, v in request.headers.items()}
            publish = PublishRequest.parse(raw_path, headers, body)
            self.authorize(request, publish)
            self.publisher.publish(publish)
        except DataPlaneError as err:
            return _reply(err.status, {"message": err.message}, request_id, err.error_type)
        except Exception as err:
            log.exception("Publish failed")
            return _reply(500, {"message": str(err)}, request_id, "InternalFailureException")
        with self._lock:
            self.published += 1
        return _reply(200, None, request_id)

    def authorize(self, request: Request, publish: PublishRequest) -> None:
        """IAM: `iot:Publish` (and `iot:RetainPublish` for a retained message) on the topic's
        ARN, for the caller's identity policies (localcloud/core/iam.py)."""
        resource = arn("iot", f"topic/{publish.topic}")
        actions = ["iot:Publish", *(["iot:RetainPublish"] if publish.retain else [])]
        for action in actions:
            verdict = self._iam.check(request.headers, action, resource)
            if verdict is not None and not verdict.allowed:
                raise DataPlaneError(
                    403, "ForbiddenException", denial(verdict.principal, action, resource)
                )

    def stop(self) -> None:
        super().stop()
        self.publisher.stop()


def iot_data_connection(
    host: str, port: int, credentials: DeviceCredentials, client_id: str = IOT_DATA_CLIENT_ID
) -> MqttConnection:
    """The MQTT connection of the data plane, from `LocalCA.issue_device_certificate(client_id)`."""
    return MqttConnection.issued(host, port, credentials, client_id)
