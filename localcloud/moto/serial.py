"""moto's server, one request at a time.

moto's in-memory backends are not thread-safe: with concurrent requests its Kinesis fails with
"OrderedDict mutated during iteration" and its DynamoDB transactions can both succeed where one
must fail. AWS is, of course, safe under concurrency; so the local cloud serves moto's own WSGI
application behind a lock. SQS long polls (ReceiveMessage with a wait time) are the exception:
moto waits inside the request, and holding the lock there would stall every other caller.

The server also enforces IAM for every identity but the account's own key, and answers the
local stand-ins' authorization questions (localcloud/moto/authorization.py).

Run as `python -m localcloud.moto.serial -H 127.0.0.1 -p PORT`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

from localcloud.core.iam import AUTHORIZE_PATH
from localcloud.moto.authorization import authorize, install

StartResponse = Callable[..., Any]


class SerialApp:
    """A WSGI application that lets one request at a time into `app`."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == AUTHORIZE_PATH:
            return self.authorize(environ, start_response)
        if is_long_poll(environ):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))  # the body is built under the lock

    def authorize(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """`POST /_localcloud/authorize` (see localcloud/moto/authorization.py)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        with self.lock:
            answer = json.dumps(authorize(request)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]


def is_long_poll(environ: dict[str, Any]) -> bool:
    """SQS ReceiveMessage, in the JSON protocol (header) or the query protocol (body)."""
    if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".ReceiveMessage"):
        return True
    if "Action=ReceiveMessage" in environ.get("QUERY_STRING", ""):
        return True
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = _Replay(body)
        return b"Action=ReceiveMessage" in body
    return False


class _Replay:
    """A request body that was read once, readable again."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size is None or size < 0 else self.position + size
        chunk = self.body[self.position : end]
        self.position += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        newline = self.body.find(b"\n", self.position)
        end = len(self.body) if newline < 0 else newline + 1
        if size is not None and size >= 0:
            end = min(end, self.position + size)
        return self.read(end - self.position)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    install()  # IAM policies are enforced for every identity but the account's own key
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        SerialApp(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
