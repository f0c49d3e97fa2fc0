"""The one HTTP server of the local stand-ins that speak HTTP (the Athena API, the emulated
OpenSearch, the IoT data plane): werkzeug's threaded WSGI server on a loopback port, served from a
background thread.

A stand-in subclasses `HttpService` and answers `handle(request) -> Response` with werkzeug's
request and response objects. werkzeug reads the body (by Content-Length or chunked transfer
encoding), answers `Expect: 100-continue`, leaves the body out of HEAD responses and refuses a
body over `max_content_length` with a 413.

Differences from the AWS endpoints: plain HTTP on 127.0.0.1, and every connection is closed after
its response (werkzeug's server does not keep connections alive); clients open a new one.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Self

from werkzeug.exceptions import HTTPException
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from localcloud.core.ports import LOOPBACK, free_port
from localcloud.core.service import Service

__all__ = ["HttpService", "Request", "Response"]

_LEVELS = {"info": logging.DEBUG, "warning": logging.WARNING, "error": logging.ERROR}


class _Server(ThreadedWSGIServer):
    logger: logging.Logger

    def log(self, type: str, message: str, *args: Any) -> None:
        self.logger.log(_LEVELS.get(type, logging.INFO), message.rstrip(), *args)


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, logging through the stand-in's logger (requests at debug level)."""

    server: _Server

    def log(self, type: str, message: str, *args: Any) -> None:
        self.server.log(type, f"{self.address_string()} {message}", *args)


class HttpService(Service):
    """A local stand-in served over HTTP on 127.0.0.1; a context manager."""

    logger: ClassVar[logging.Logger] = logging.getLogger("localcloud")
    max_content_length: ClassVar[int | None] = None

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer one request."""

    def start(self) -> Self:
        """Listen and serve from a daemon thread; subclasses prepare their state first."""
        server = _Server(LOOPBACK, self.port, self._wsgi, handler=_RequestHandler)
        server.logger = self.logger
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and wait for the serving thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = self.max_content_length
        try:
            response = self.handle(request)
        except HTTPException as err:
            return err(environ, start_response)
        return response(environ, start_response)
