"""Amazon OpenSearch Service stood in for by the emulated OpenSearch: the REST subset the pipeline
and its dashboards use, served over HTTP on 127.0.0.1.

No real OpenSearch can be installed on the local cloud's machine, so this module is a small,
honest emulation, not OpenSearch: `GET /` says so in its `name` and `tagline`, and every error
about something outside the subset says "not supported by the emulated OpenSearch". It reports
version 2.19.0 (the engine version the CDK app deploys) with `distribution: opensearch`, which is
what opensearch-py 3.x needs to talk to it.

Use it in-process:

    with OpenSearchEmulator(data_dir=Path(".localcloud/opensearch")) as search:
        client = OpenSearch(hosts=[search.endpoint])

or standalone:
`python -m localcloud.opensearch.server --port 9200 --data-dir .localcloud/opensearch`.

## The emulated REST subset

- `GET /`, `HEAD /`: cluster info.
- `PUT/GET/HEAD/DELETE /<index>`: create with `settings` and `mappings`; GET and DELETE take
  index expressions.
- `GET /[<index>/]_mapping`, `PUT /<index>/_mapping`: fields may be added, never change type.
- `GET /[<index>/]_settings`, `PUT /<index>/_settings`: any `index.*` setting is stored.
- `PUT/POST/GET/HEAD/DELETE /_index_template/<name>`, `GET /_index_template`: composable
  templates (`index_patterns`, `template.settings`, `template.mappings`, `priority`, `version`,
  `_meta`), applied when a matching index is created, explicitly or by its first write; two
  templates of equal priority may not have overlapping patterns.
- `POST /[<index>/]_bulk`: `index`, `create`, `update` (`doc`, `doc_as_upsert`, `upsert`) and
  `delete` actions with per-item results and errors (`opensearch.bulk`).
- `PUT/POST /<index>/_doc[/<id>]`, `PUT/POST /<index>/_create/<id>` (`op_type`, `if_seq_no`,
  `if_primary_term`), `GET/HEAD/DELETE /<index>/_doc/<id>`, `GET /<index>/_source/<id>`,
  `POST /<index>/_update/<id>`.
- `PUT/GET/DELETE /_ingest/pipeline/<id>`, `GET /_ingest/pipeline`: ingest pipelines with the
  `set` processor, run on `_bulk` `index`/`create` and single-document writes (`pipeline`
  parameter, `index.default_pipeline`, `index.final_pipeline`), so a pipeline may set `_id`
  and `_index` from the document's fields (`opensearch_ingest`).
- `GET/POST /[<expression>/]_search` and `_count`; expressions are names, comma lists,
  wildcards (`sensor-log-*`), `_all` and exclusions (`-old-*`). The request subset is described
  in `opensearch.search`, the queries in `opensearch.query`, the aggregations in
  `opensearch.aggs`.
- `GET /_cat/indices[/<expression>]`, `/_cat/count[/<expression>]`, `/_cat/health`: text
  (`v`, `h`, `s`, `bytes=b`) or `format=json`.
- `GET /_cluster/health[/<expression>]`: `wait_for_status` answers at once (408 if the status
  is not reached).
- `POST /[<index>/]_refresh` and `_flush`: no-ops, documents are searchable once written.
- `PUT/GET/DELETE /_plugins/_ism/policies/<id>`, `GET /_plugins/_ism/policies`,
  `GET /_plugins/_ism/explain/<expression>`, `POST /_plugins/_ism/add|remove/<expression>`
  (`opensearch.plugins`).
- `PUT/GET/DELETE /_plugins/_security/api/rolesmapping[/<role>]`: stored only.
- `/_dashboards/api/saved_objects/...` and `/_dashboards/api/status`: the Dashboards saved
  objects API (`opensearch.dashboards`), so that saved objects can be installed and read back.

Field types, dynamic mapping and document parsing: `opensearch.mapping`. Dates, formats and
date math: `opensearch.dates`. Persistence: `opensearch.journal`.

## Differences from AWS

- It is an emulation of a REST subset, not OpenSearch: no Lucene, no shards or replicas, no
  cluster; one process keeps every index in memory. Anything outside the subset gets a 400
  saying it is not supported by the emulated OpenSearch (a known path with the wrong method
  gets a 405, as in OpenSearch).
- HTTP only, on 127.0.0.1, no TLS, one connection per request (`localcloud.core.http`).
  Standing in for a deployed domain (the local cloud), it applies the domain's access policy
  and fine-grained access control as `opensearch.access` describes: an unsigned request to a
  domain whose policy names IAM principals gets 403, an unauthenticated one under FGAC 401.
  A SigV4 signature is not verified; role mappings are stored, not enforced. Standing alone
  (tests of the emulation itself), every request is allowed.
- Documents are searchable as soon as a write returns (OpenSearch shows them after the next
  refresh, by default within 1 s); `_refresh` and `refresh=` do nothing.
- Relevance is not computed: every hit scores 1.0, and without `sort` hits come in index order.
- Cardinality is exact and terms counts are exact (`doc_count_error_upper_bound` is 0).
- `store.size` in `_cat/indices` is the size of the stored JSON sources, not of Lucene files.
  Health is `yellow` for indices with replicas (the default, 1), as on a one-node domain.
- URL parameters the emulation does not know are ignored (OpenSearch rejects them);
  `filter_path` is honoured, `highlight` in a search body is accepted and ignored. Index
  settings other than shards, replicas and the default and final pipelines are stored without
  effect (the result window stays 10,000), and `*` also matches indices whose names start with
  a dot.
- Text analysis is the standard analyser only (lower-cased words); analyzers, normalizers,
  synonyms and stemming in mappings are accepted and have no effect.
- Not supported: aliases, data streams, component templates, legacy `_template`, dynamic
  templates, `nested`/`geo_*`/`ip`/range field types, scripts, scroll, point in time, `_mget`,
  `_msearch`, `_reindex`, `_delete_by_query`, snapshots, external versioning.
- Ingest pipelines: the `set` processor only, with `{{field}}` template snippets; other
  processors, `if` conditions, `on_failure` and `_simulate` are not supported
  (`opensearch_ingest` lists the rest).
- ISM: policies are validated and stored, attached to new indices by their `ism_template`, and
  run by a timer every `ism_interval_seconds` (300 s, like the service's job interval) or by
  `Store.run_ism`: the `delete` action and the `min_index_age`, `min_doc_count` and `min_size`
  conditions are carried out; other actions are recorded in `_ism/explain` as not run. One run
  advances an index as far as its policy allows (the service takes one step per run).
- With a data directory, indices, templates, pipelines, policies and roles mappings survive a
  restart; journal lines reach the operating system at the end of each request and are fsynced
  on stop (OpenSearch fsyncs its translog on every request), so a power cut may lose the last
  writes, a process restart does not.
- The OpenSearch Dashboards application is not emulated, only its saved objects API.
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
