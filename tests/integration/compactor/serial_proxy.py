"""An HTTP proxy that hands requests to the moto server one at a time.

DynamoDB applies each write and each transaction atomically and in isolation. moto's server
handles requests on several threads without that isolation (two concurrent conditional puts of the
same key can both succeed), so concurrent tests talk to moto through this proxy. Requests still
interleave in any order between them, which is exactly DynamoDB's promise.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from localcloud.core.ports import LOOPBACK
from localcloud.core.service import Service

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class SerialProxy(Service):
    """A local service (a context manager): `endpoint` forwards to `upstream`, one request at a
    time."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        lock = threading.Lock()
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm
                # and delayed ACKs add 40 ms to every request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                headers["Host"] = self.headers.get("Host", target.netloc)
                if not hasattr(local, "conn"):
                    local.conn = http.client.HTTPConnection(target.hostname, target.port)
                with lock:
                    local.conn.request(self.command, self.path, body=body, headers=headers)
                    response = local.conn.getresponse()
                    payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> SerialProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
