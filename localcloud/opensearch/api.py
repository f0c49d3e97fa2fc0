"""The REST endpoints of the emulated OpenSearch, independent of the HTTP server.

`Api.handle(method, path, params, body)` routes one request to its handler under the store's
lock and returns a `Response`; failures become OpenSearch-style error bodies. Paths that are
not part of the emulated subset get a 400 whose reason says so; a known path with the wrong
method gets OpenSearch's 405.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

from localcloud.opensearch.bulk import bulk
from localcloud.opensearch.dashboards import (
    DashboardsError,
    SavedObjects,
    multipart_file,
    require_xsrf,
)
from localcloud.opensearch.errors import EMULATED, OpenSearchError, bad_request, not_supported
from localcloud.opensearch.search import count, search
from localcloud.opensearch.store import PRIMARY_TERM, Store

LOG = logging.getLogger("localcloud.opensearch")


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list: JSON; str: text/plain; None: empty

    @property
    def content_type(self) -> str:
        return (
            "text/plain; charset=UTF-8"
            if isinstance(self.body, str)
            else "application/json; charset=UTF-8"
        )

    def payload(self, pretty: bool = False) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, indent=2 if pretty else None).encode("utf-8")


@dataclass
class Request:
    method: str
    path: str
    args: dict[str, str]
    params: dict[str, str]
    raw: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    _json: Any = field(default=None, init=False)
    _parsed: bool = field(default=False, init=False)

    @property
    def json(self) -> Any:
        if not self._parsed:
            self._parsed = True
            if self.raw.strip():
                try:
                    self._json = json.loads(self.raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as err:
                    raise OpenSearchError(
                        400, "json_parse_exception", f"the request body is not valid JSON: {err}"
                    ) from err
        return self._json

    def flag(self, name: str, default: bool = False) -> bool:
        if name not in self.params:
            return default
        return self.params[name].lower() in {"", "true"}

    def optional_int(self, name: str) -> int | None:
        if name not in self.params:
            return None
        try:
            return int(self.params[name])
        except ValueError as err:
            raise bad_request(
                f"Failed to parse int parameter [{name}] with value [{self.params[name]}]"
            ) from err


Handler = Callable[[Request], Response]


def _ack() -> Response:
    return Response(200, {"acknowledged": True})


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("b", "kb", "mb", "gb"):
        if value < 1024 or unit == "gb":
            text = f"{value:.1f}".removesuffix(".0") if unit != "b" else str(int(value))
            return f"{text}{unit}"
        value /= 1024
    return f"{size}b"


class Api:
    """Routes requests to the emulated endpoints over one Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.routes: list[tuple[tuple[str, ...], dict[str, Handler]]] = []
        self._register()

    # ------------------------------------------------------------ routing

    def _route(self, pattern: str, **methods: Handler) -> None:
        self.routes.append(
            (tuple(p for p in pattern.split("/") if p), {m.upper(): h for m, h in methods.items()})
        )

    def _register(self) -> None:
        r = self._route
        r("_bulk", post=self.bulk, put=self.bulk)
        r("_search", get=self.search, post=self.search)
        r("_count", get=self.count, post=self.count)
        r("_mapping", get=self.get_mapping)
        r("_settings", get=self.get_settings)
        r("_cat/indices", get=self.cat_indices)
        r("_cat/indices/{index}", get=self.cat_indices)
        r("_index_template/{name}", put=self.put_template, post=self.put_template)
        r("_ingest/pipeline", get=self.get_pipelines)
        r("_ingest/pipeline/{name}", get=self.get_pipelines, put=self.put_pipeline)
        r("_plugins/_ism/policies/{name}", get=self.get_policy, put=self.put_policy)
        r("_plugins/_ism/explain/{index}", get=self.explain)
        r("_plugins/_ism/add/{index}", post=self.add_policy)
        for kind in ("roles", "rolesmapping"):
            r(f"_plugins/_security/api/{kind}", get=partial(self.get_security, kind))
            r(
                f"_plugins/_security/api/{kind}/{{name}}",
                get=partial(self.get_security, kind),
                put=partial(self.put_security, kind),
            )
        r("_dashboards/api/saved_objects/_import", post=self.import_saved_objects)
        r("_dashboards/api/saved_objects/_find", get=self.find_saved_objects)
        r("_dashboards/api/saved_objects/{type}/{id}", get=self.get_saved_object)
        r("{index}/_bulk", post=self.bulk, put=self.bulk)
        r("{index}/_search", get=self.search, post=self.search)
        r("{index}/_count", get=self.count, post=self.count)
        r("{index}/_mapping", get=self.get_mapping)
        r("{index}/_settings", get=self.get_settings, put=self.put_settings)

    @staticmethod
    def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
        if len(pattern) != len(segments):
            return None
        args: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{"):
                if expected == "{index}" and actual.startswith("_") and actual != "_all":
                    return None
                args[expected[1:-1]] = actual
            elif expected != actual:
                return None
        return args

    def handle(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """One request: the matching endpoint's response, or an OpenSearch-style error."""
        method = method.upper()
        if "filter_path" in params:
            return Response(400, not_supported("the filter_path parameter").body())
        segments = [unquote(s) for s in path.split("?", maxsplit=1)[0].split("/") if s]
        allowed: list[str] = []
        for pattern, methods in self.routes:
            args = self._match(pattern, segments)
            if args is None:
                continue
            handler = methods.get(method)
            if handler is None:
                allowed.extend(methods)
                continue
            lowered = {k.lower(): v for k, v in (headers or {}).items()}
            request = Request(method, path, args, params, body, lowered)
            try:
                with self.store.transaction():
                    response = handler(request)
            except OpenSearchError as err:
                response = Response(err.status, err.body())
            except DashboardsError as err:
                response = Response(err.status, err.body())
            except Exception as err:
                LOG.exception("emulated OpenSearch: %s %s failed", method, path)
                reason = f"internal error of {EMULATED}: {type(err).__name__}: {err}"
                response = Response(
                    500, {"error": {"type": "exception", "reason": reason}, "status": 500}
                )
            return response
        if allowed:
            return Response(
                405,
                {
                    "error": f"Incorrect HTTP method for uri [{path}] and method [{method}], "
                    f"allowed: [{', '.join(sorted(set(allowed)))}]",
                    "status": 405,
                },
            )
        error = OpenSearchError(
            400,
            "illegal_argument_exception",
            f"[{method} /{'/'.join(segments)}] is not supported by {EMULATED}",
        )
        return Response(400, error.body())

    # ------------------------------------------------------------ cluster

    # ------------------------------------------------------------ _cat

    @staticmethod
    def _cat(request: Request, columns: list[str], rows: list[dict[str, str]]) -> Response:
        table = [columns] if request.flag("v") else []
        table += [[row.get(c, "") for c in columns] for row in rows]
        widths = [max((len(line[i]) for line in table), default=0) for i in range(len(columns))]
        text = "".join(
            " ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
            for line in table
        )
        return Response(200, text)

    def cat_indices(self, request: Request) -> Response:
        names = self.store.resolve(request.args.get("index"))
        rows = []
        for name in names:
            index = self.store.index(name)
            size = _human_bytes(index.size_bytes)
            rows.append(
                {
                    "health": "yellow" if index.replicas > 0 else "green",
                    "status": "open",
                    "index": name,
                    "uuid": index.uuid,
                    "pri": str(index.shards),
                    "rep": str(index.replicas),
                    "docs.count": str(len(index.docs)),
                    "docs.deleted": "0",
                    "store.size": size,
                    "pri.store.size": size,
                }
            )
        columns = [
            "health",
            "status",
            "index",
            "uuid",
            "pri",
            "rep",
            "docs.count",
            "docs.deleted",
            "store.size",
            "pri.store.size",
        ]
        return self._cat(request, columns, rows)

    # ------------------------------------------------------------ indices

    def _resolve(self, request: Request) -> list[str]:
        return self.store.resolve(
            request.args.get("index"),
            ignore_unavailable=request.flag("ignore_unavailable"),
            allow_no_indices=request.flag("allow_no_indices", True),
        )

    def get_mapping(self, request: Request) -> Response:
        return Response(
            200, {n: {"mappings": self.store.index(n).mapping.body} for n in self._resolve(request)}
        )

    def get_settings(self, request: Request) -> Response:
        return Response(
            200,
            {n: {"settings": self.store.index(n).settings_json()} for n in self._resolve(request)},
        )

    def put_settings(self, request: Request) -> Response:
        for name in self._resolve(request):
            self.store.put_settings(name, request.json)
        return _ack()

    # ------------------------------------------------------------ documents

    def bulk(self, request: Request) -> Response:
        return Response(
            200,
            bulk(
                self.store,
                request.args.get("index"),
                request.raw,
                pipeline=request.params.get("pipeline"),
            ),
        )

    def search(self, request: Request) -> Response:
        return Response(
            200, search(self.store, request.args.get("index"), request.json, request.params)
        )

    def count(self, request: Request) -> Response:
        return Response(
            200, count(self.store, request.args.get("index"), request.json, request.params)
        )

    # ------------------------------------------------------------ index templates

    def put_template(self, request: Request) -> Response:
        self.store.put_template(request.args["name"], request.json, create=request.flag("create"))
        return _ack()

    # ------------------------------------------------------------ ingest pipelines

    def put_pipeline(self, request: Request) -> Response:
        self.store.put_pipeline(request.args["name"], request.json)
        return _ack()

    def get_pipelines(self, request: Request) -> Response:
        found = self.store.find_pipelines(request.args.get("name"))
        return Response(200 if found else 404, found)

    # ------------------------------------------------------------ ISM

    def put_policy(self, request: Request) -> Response:
        status, body = self.store.put_policy(
            request.args["name"],
            request.json,
            request.optional_int("if_seq_no"),
            request.optional_int("if_primary_term"),
        )
        return Response(status, body)

    def get_policy(self, request: Request) -> Response:
        return Response(200, self.store.policy(request.args["name"]))

    def explain(self, request: Request) -> Response:
        body: dict[str, Any] = {}
        managed = 0
        for name in self._resolve(request):
            index = self.store.index(name)
            policy_id = index.ism["policy_id"] if index.ism else None
            entry: dict[str, Any] = {
                "index.plugins.index_state_management.policy_id": policy_id,
                "index.opendistro.index_state_management.policy_id": policy_id,
            }
            if index.ism:
                managed += 1
                stored = self.store.ism_policies.get(index.ism["policy_id"], {})
                entry.update(
                    {
                        "index": name,
                        "index_uuid": index.uuid,
                        "policy_id": policy_id,
                        "policy_seq_no": stored.get("_seq_no"),
                        "policy_primary_term": PRIMARY_TERM,
                        "enabled": index.ism.get("enabled", True),
                    }
                )
                for key in ("state", "info"):
                    if index.ism.get(key) is not None:
                        entry[key] = index.ism[key]
            body[name] = entry
        body["total_managed_indices"] = managed
        return Response(200, body)

    def add_policy(self, request: Request) -> Response:
        body = request.json or {}
        policy_id = body.get("policy_id") if isinstance(body, dict) else None
        if not isinstance(policy_id, str):
            raise bad_request("the body must name a [policy_id]")
        self.store.policy(policy_id)
        updated, failed = [], []
        for name in self._resolve(request):
            index = self.store.index(name)
            if index.ism is not None:
                failed.append(
                    {
                        "index_name": name,
                        "index_uuid": index.uuid,
                        "reason": "This index already has a policy, use the update policy API "
                        "to update index policies",
                    }
                )
            else:
                updated.append(name)
        self.store.attach_policy(updated, policy_id)
        return Response(
            200,
            {"updated_indices": len(updated), "failures": bool(failed), "failed_indices": failed},
        )

    # ------------------------------------------------------------ security roles mapping

    def get_security(self, kind: str, request: Request) -> Response:
        table = self.store.security_table(kind)
        name = request.args.get("name")
        if name is None:
            return Response(200, dict(table))
        if name not in table:
            return Response(
                404, {"status": "NOT_FOUND", "message": f"Resource '{name}' not found."}
            )
        return Response(200, {name: table[name]})

    def put_security(self, kind: str, request: Request) -> Response:
        name = request.args["name"]
        try:
            created = self.store.put_security(kind, name, request.json)
        except OpenSearchError as err:
            return Response(400, {"status": "BAD_REQUEST", "message": err.reason})
        if created:
            return Response(201, {"status": "CREATED", "message": f"'{name}' created."})
        return Response(200, {"status": "OK", "message": f"'{name}' updated."})

    # ------------------------------------------------------------ Dashboards saved objects

    def _saved_objects(self) -> SavedObjects:
        return SavedObjects(self.store.saved_objects, self.store.clock())

    def import_saved_objects(self, request: Request) -> Response:
        require_xsrf(request.headers)
        if request.flag("createNewCopies"):
            raise DashboardsError(400, f"createNewCopies is not supported by {EMULATED}")
        payload = multipart_file(request.headers.get("content-type", ""), request.raw)
        result = self._saved_objects().import_ndjson(payload, request.flag("overwrite"))
        self.store.save_cluster()
        return Response(200, result)

    def find_saved_objects(self, request: Request) -> Response:
        types = [t for t in request.params.get("type", "").split(",") if t]
        per_page = request.optional_int("per_page") or 20
        page = request.optional_int("page") or 1
        search_text = request.params.get("search")
        return Response(200, self._saved_objects().find(types, search_text, per_page, page))

    def get_saved_object(self, request: Request) -> Response:
        return Response(200, self._saved_objects().get(request.args["type"], request.args["id"]))
