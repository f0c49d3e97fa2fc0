"""The Kinesis API of the local cloud: checked against IAM, then forwarded to kinesalite.

The moto server mounts this WSGI application for requests whose `X-Amz-Target` is Kinesis's
(`Kinesis_20131202.<Operation>`), so boto3 and the AWS CLI reach Kinesis on the same endpoint as
every other API, and a role session (a function's, a delivery stream's) is authorized as moto
authorizes its own APIs: `kinesis:<Operation>` on the stream's ARN, from the caller's identity
policies (`authorize`, the `POST /_localcloud/authorize` question of
localcloud/moto/authorization.py). The account's own key and unsigned requests are not checked.

What kinesalite lacks and the gateway supplies: the `StreamARN` parameter (newer SDKs send it
instead of `StreamName`) becomes `StreamName`. The signature itself is not verified.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from localcloud.core.iam import access_key_of, denial

StartResponse = Callable[..., Any]
Authorize = Callable[[dict[str, Any]], dict[str, Any]]
TARGET_PREFIX = "Kinesis_20131202."
FORWARDED_HEADERS = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date")
FORWARDED_HEADERS += ("X-Amz-Security-Token",)
KEEP_ALIVE_SECONDS = 4.0  # under Node's default keep-alive timeout of 5 s


def is_kinesis(environ: dict[str, Any]) -> bool:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(TARGET_PREFIX)


def stream_arn_of(request: dict[str, Any], stream_arn: Callable[[str], str]) -> str:
    """The stream a request names (by ARN or by name), as an ARN; "" when it names none."""
    if request.get("StreamARN"):
        return str(request["StreamARN"])
    if request.get("StreamName"):
        return stream_arn(str(request["StreamName"]))
    return ""


class KinesisGateway:
    """WSGI: authorize a Kinesis request, then forward it to `upstream` (kinesalite)."""

    def __init__(
        self, upstream: str, authorize: Authorize, stream_arn: Callable[[str], str]
    ) -> None:
        parsed = urlparse(upstream)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.authorize = authorize
        self.stream_arn = stream_arn
        self._local = threading.local()  # one kept-alive connection per serving thread

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            name: environ[key]
            for name in FORWARDED_HEADERS
            if (key := "HTTP_" + name.upper().replace("-", "_")) in environ
            or (key := name.upper().replace("-", "_")) in environ
        }
        operation = headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if isinstance(request, dict):
            refusal = self.refusal(headers, operation, request)
            if refusal is not None:
                return self.answer(start_response, 400, *refusal)
            if "StreamARN" in request:
                arn = str(request.pop("StreamARN"))
                request.setdefault("StreamName", arn.rsplit("/", 1)[-1])
                body = json.dumps(request).encode()
        status, content_type, answer = self.forward(headers, body)
        start_response(
            f"{status} {http.client.responses.get(status, '')}",
            [("Content-Type", content_type), ("Content-Length", str(len(answer)))],
        )
        return [answer]

    def refusal(
        self, headers: dict[str, str], operation: str, request: dict[str, Any]
    ) -> tuple[str, str] | None:
        """(error type, message) when the caller may not do this; None when it may."""
        key = access_key_of(headers)
        if key is None:
            return None
        action = f"kinesis:{operation}"
        resource = stream_arn_of(request, self.stream_arn)
        verdict = self.authorize(
            {
                "AccessKeyId": key,
                "SessionToken": headers.get("X-Amz-Security-Token", ""),
                "Action": action,
                "Resource": resource,
            }
        )
        if verdict.get("Allowed"):
            return None
        if verdict.get("Reason"):
            return (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        return "AccessDeniedException", denial(str(verdict["Principal"]), action, resource or "*")

    def forward(self, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """kinesalite's answer. A kept-alive connection is renewed before Node's keep-alive
        timeout (5 s) closes it; a request that failed on a reused connection is sent once
        more on a new one (the server closed it before reading the request)."""
        connection, reused = self._connection()
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            self._local.connection = None
            connection, _ = self._connection()
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
        answer = response.read()
        self._local.used_at = time.monotonic()
        content_type = response.getheader("Content-Type") or "application/x-amz-json-1.1"
        return response.status, content_type, answer

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to kinesalite, and whether it was used before."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        idle = time.monotonic() - getattr(self._local, "used_at", 0.0)
        if connection is not None and idle < KEEP_ALIVE_SECONDS:
            return connection, True
        if connection is not None:
            connection.close()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self._local.connection = connection
        return connection, False

    @staticmethod
    def answer(start_response: StartResponse, status: int, error: str, message: str) -> list[bytes]:
        body = json.dumps({"__type": error, "message": message}).encode()
        start_response(
            f"{status} {http.client.responses.get(status, '')}",
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
        )
        return [body]
