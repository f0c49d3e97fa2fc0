"""Amazon OpenSearch Service stood in for by the emulated OpenSearch: the REST subset the pipeline
and its dashboards use, served over HTTP on 127.0.0.1.

No real OpenSearch can be installed on the local cloud's machine, so this module is a small,
honest emulation, not OpenSearch: every error about something outside the subset says "not
supported by the emulated OpenSearch".

Use it in-process:

    with OpenSearchEmulator(data_dir=Path(".localcloud/opensearch")) as search:
        client = OpenSearch(hosts=[search.endpoint])

or standalone:
`python -m localcloud.opensearch.server --port 9200 --data-dir .localcloud/opensearch`.

What the emulation supports (endpoints, queries, aggregations, ingest processors, ISM, the
security API) and how it differs from OpenSearch: localcloud/opensearch/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import threading
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.exceptions import RequestEntityTooLarge

from localcloud.core.http import HttpService, Request, Response
from localcloud.core.service import serve_until_signalled
from localcloud.opensearch.access import DomainAccess
from localcloud.opensearch.api import Api
from localcloud.opensearch.api import Response as ApiResponse
from localcloud.opensearch.errors import EMULATED, OpenSearchError
from localcloud.opensearch.store import Store

LOG = logging.getLogger("localcloud.opensearch")
ENDPOINT_VARIABLE = "OPENSEARCH_URL"  # where clients of the local cloud find it
MAX_CONTENT_LENGTH = 100 * 1024 * 1024  # OpenSearch's default http.max_content_length
DEFAULT_ISM_INTERVAL_SECONDS = 300.0


class OpenSearchEmulator(HttpService):
    """The emulated OpenSearch on a loopback port; a context manager.

    port None picks a free port; data_dir None keeps everything in memory only.
    ism_interval_seconds None turns the ISM timer off (Store.run_ism still works).
    """

    logger = LOG
    max_content_length = MAX_CONTENT_LENGTH

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        ism_interval_seconds: float | None = DEFAULT_ISM_INTERVAL_SECONDS,
    ) -> None:
        super().__init__(port)
        self.data_dir = data_dir
        self.ism_interval_seconds = ism_interval_seconds
        self.store: Store | None = None
        self._api: Api | None = None
        self._ism: threading.Thread | None = None
        self._stopping = threading.Event()
        self.access: DomainAccess | None = None  # set for a deployed domain (opensearch.access)

    def env(self) -> dict[str, str]:
        return {ENDPOINT_VARIABLE: self.endpoint}

    def start(self) -> OpenSearchEmulator:
        """Load the data directory (if any) and serve; returns once the port accepts requests."""
        self.store = Store(self.data_dir)
        self._api = Api(self.store)
        self._stopping.clear()
        super().start()
        if self.ism_interval_seconds:
            self._ism = threading.Thread(
                target=self._run_ism, name="emulated-opensearch-ism", daemon=True
            )
            self._ism.start()
        LOG.info("emulated OpenSearch listening on %s", self.endpoint)
        return self

    def handle(self, request: Request) -> Response:
        assert self._api is not None
        if self.access is not None:
            refused = self.access.refusal(request.method, request.headers.get("Authorization"))
            if refused is not None:
                return Response(refused.body, refused.status, headers=refused.headers)
        # a repeated parameter (type=a&type=b) arrives as one comma-separated value
        params = {name: ",".join(values) for name, values in request.args.lists()}
        try:
            body = _decoded_body(request)
        except (ValueError, RequestEntityTooLarge) as err:
            error = OpenSearchError(400, "illegal_argument_exception", f"{EMULATED}: {err}")
            return _reply(ApiResponse(400, error.body()), pretty=False)
        path = urlsplit(request.environ.get("REQUEST_URI", request.path)).path
        response = self._api.handle(request.method, path, params, body, dict(request.headers))
        return _reply(response, pretty="pretty" in params)

    def _run_ism(self) -> None:
        assert self.ism_interval_seconds is not None
        while not self._stopping.wait(self.ism_interval_seconds):
            if self.store is not None:
                deleted = self.store.run_ism()
                if deleted:
                    LOG.info("emulated OpenSearch ISM deleted %s", ", ".join(deleted))

    def stop(self) -> None:
        """Stop serving and write everything to the data directory."""
        self._stopping.set()
        super().stop()
        if self._ism is not None:
            self._ism.join(timeout=10)
            self._ism = None
        if self.store is not None:
            self.store.close()
            self.store = None


def _decoded_body(request: Request) -> bytes:
    """The body, gzip or deflate content encoding undone."""
    data = request.get_data()
    encoding = request.headers.get("Content-Encoding", "").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(data)
        if encoding == "deflate":
            return zlib.decompress(data)
    except (OSError, zlib.error) as err:
        raise ValueError(f"cannot decode the {encoding} body: {err}") from err
    return data


def _reply(response: ApiResponse, pretty: bool) -> Response:
    reply = Response(response.payload(pretty), response.status)
    reply.headers["Content-Type"] = response.content_type
    return reply


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.opensearch.server",
        description="Serve the emulated OpenSearch (a REST subset, not OpenSearch) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep data here across restarts"
    )
    parser.add_argument(
        "--ism-interval",
        type=float,
        default=DEFAULT_ISM_INTERVAL_SECONDS,
        help="seconds between ISM runs (0: never)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    emulator = OpenSearchEmulator(args.port, args.data_dir, args.ism_interval or None)
    serve_until_signalled(emulator, "emulated OpenSearch")
    print("emulated OpenSearch stopped", flush=True)


if __name__ == "__main__":
    main()
