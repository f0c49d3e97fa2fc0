"""moto's server, one request at a time.

moto's in-memory backends are not thread-safe: with concurrent requests its Kinesis fails with
"OrderedDict mutated during iteration" and its DynamoDB transactions can both succeed where one
must fail. AWS is, of course, safe under concurrency; so the local cloud serves moto's own WSGI
application behind a lock. SQS long polls (ReceiveMessage with a wait time) are the exception:
moto waits inside the request, and holding the lock there would stall every other caller.

The server also enforces IAM for every identity but the account's own key, and answers the
local stand-ins' authorization questions (localcloud/moto/authorization.py). With
`--kinesis-upstream` it serves the Kinesis API from kinesalite (localcloud/kinesis/gateway.py),
outside the lock; with `--state` it keeps its data across restarts (localcloud/moto/state.py).

Run as `python -m localcloud.moto.serial -H 127.0.0.1 -p PORT [--state FILE]
[--kinesis-upstream URL]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

from localcloud.core.aws import arn
from localcloud.core.iam import AUTHORIZE_PATH
from localcloud.kinesis.gateway import KinesisGateway, is_kinesis
from localcloud.moto import CHECKPOINTS_PATH, STATE_PATH, dynamodb_query, dynamodb_transactions
from localcloud.moto.authorization import authorize, install
from localcloud.moto.state import StateKeeper

StartResponse = Callable[..., Any]


class SerialApp:
    """A WSGI application that lets one request at a time into `app`."""

    def __init__(
        self,
        app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        kinesis_upstream: str | None = None,
        state: Path | None = None,
        state_interval: float = 1.0,
    ) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.kinesis = (
            KinesisGateway(kinesis_upstream, self.locked_authorize, kinesis_stream_arn)
            if kinesis_upstream
            else None
        )
        self.state = StateKeeper(state, self.lock, state_interval) if state else None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == AUTHORIZE_PATH:
            return self.authorize(environ, start_response)
        if path.startswith((STATE_PATH, CHECKPOINTS_PATH)):
            return self.keep_state(environ, start_response)
        if self.kinesis is not None and is_kinesis(environ):
            return self.kinesis(environ, start_response)
        if is_long_poll(environ):
            return self.app(environ, start_response)
        with self.lock:
            body = list(self.app(environ, start_response))  # the body is built under the lock
            if self.state is not None and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                self.state.changed()
                self.state.adopt()
            return body

    def locked_authorize(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return authorize(request)

    def authorize(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """`POST /_localcloud/authorize` (see localcloud/moto/authorization.py)."""
        answer = json.dumps(self.locked_authorize(json.loads(_body(environ) or b"{}"))).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]

    def keep_state(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """`POST /_localcloud/state/restore|save`, `GET|PUT /_localcloud/checkpoints/<name>`
        (see localcloud/moto/state.py)."""
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if self.state is None:
            return _reply(start_response, "404 Not Found", {"message": "started without --state"})
        if path.startswith(CHECKPOINTS_PATH):
            return self.checkpoint(environ, start_response, self.state)
        if path == f"{STATE_PATH}/restore" and method == "POST":
            return _reply(start_response, "200 OK", self.state.restore())
        if path == f"{STATE_PATH}/save" and method == "POST":
            return _reply(start_response, "200 OK", {"saved": self.state.save()})
        return _reply(start_response, "404 Not Found", {"message": f"{method} {path}?"})

    @staticmethod
    def checkpoint(
        environ: dict[str, Any], start_response: StartResponse, state: StateKeeper
    ) -> list[bytes]:
        name = environ.get("PATH_INFO", "").removeprefix(CHECKPOINTS_PATH)
        if environ.get("REQUEST_METHOD") == "PUT":
            state.put_checkpoint(name, _body(environ))
            return _reply(start_response, "200 OK", {})
        document = state.get_checkpoint(name)
        if document is None:
            return _reply(start_response, "404 Not Found", {"message": f"no checkpoint {name}"})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [document]


def kinesis_stream_arn(name: str) -> str:
    return arn("kinesis", f"stream/{name}")


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _reply(start_response: StartResponse, status: str, document: dict[str, Any]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(document).encode()]


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
    parser.add_argument("--state", type=Path, help="the snapshot file kept across restarts")
    parser.add_argument("--state-interval", type=float, default=1.0)
    parser.add_argument("--kinesis-upstream", help="kinesalite's endpoint")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    install()  # IAM policies are enforced for every identity but the account's own key
    dynamodb_transactions.install()  # a transaction's cost does not grow with its tables
    dynamodb_query.install()  # a query reads its partition, not the table
    app = SerialApp(
        DomainDispatcherApplication(create_backend_app),
        kinesis_upstream=args.kinesis_upstream,
        state=args.state,
        state_interval=args.state_interval,
    )

    def stop(_number: int, _frame: FrameType | None) -> None:
        # Once: a second SIGTERM (the parent's death signal and a stop, say) would run this
        # handler again inside the first one's snapshot and wait forever for its lock.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if app.state is not None:
            app.state.stop()  # the last snapshot
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
