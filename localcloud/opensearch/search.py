"""`_search` and `_count` of the emulated OpenSearch over one or more indices.

Request body: `query`, `size` (default 10), `from`, `sort`, `_source` (true or false),
`aggs`/`aggregations`, `track_total_hits` (default 10,000 as in OpenSearch); `timeout`,
`track_scores`, `stored_fields` and `highlight` are accepted and ignored (hits carry no
highlight). URL parameters `rest_total_hits_as_int`, `typed_keys`, `ignore_unavailable` and
`allow_no_indices` are honoured. Other URL parameters (`size`, `q`, `scroll`, ...), `_source`
filters, `version`, point in time, `search_after`, `post_filter`, `docvalue_fields` and scripts
(nothing here uses them) are refused by name.
"""

from __future__ import annotations

import time
from typing import Any

from localcloud.opensearch.aggs import AggContext, run_aggregations
from localcloud.opensearch.dates import now_millis
from localcloud.opensearch.errors import bad_request, not_supported, parsing
from localcloud.opensearch.query import (
    HitOptions,
    QueryContext,
    Row,
    build_hit,
    check_sort_fields,
    compile_query,
    order_rows,
    parse_sort,
)
from localcloud.opensearch.store import Index, Store

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL_HITS = 10_000
_NOT_EMULATED = {
    "pit",
    "collapse",
    "suggest",
    "rescore",
    "min_score",
    "indices_boost",
    "fields",
    "search_after",
    "post_filter",
    "docvalue_fields",
    "seq_no_primary_term",
    "version",
}
_URL_PARAMS = {"typed_keys", "ignore_unavailable", "allow_no_indices", "rest_total_hits_as_int"}
_BODY_KEYS = {
    "query",
    "size",
    "from",
    "sort",
    "_source",
    "aggs",
    "aggregations",
    "track_total_hits",
    "timeout",
    "track_scores",
    "stored_fields",
    "highlight",
    "script_fields",
    "explain",
}


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in {"true", ""}


def _int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise bad_request(f"Failed to parse int parameter [{name}] with value [{value}]") from err
    if number < 0:
        raise bad_request(f"[{name}] parameter cannot be negative, found [{number}]")
    return number


def _shards(indices: list[Index]) -> dict[str, int]:
    total = sum(index.shards for index in indices)
    return {"total": total, "successful": total, "skipped": 0, "failed": 0}


def _check_params(params: dict[str, str]) -> None:
    """URL parameters other than these (`size`, `sort`, `q`, `scroll`, ...: nothing sends them)."""
    for key in sorted(set(params) - _URL_PARAMS):
        raise not_supported(f"the URL parameter [{key}] of _search and _count")


def _check_body(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise parsing("the search request body must be an object")
    unknown = set(body) - _BODY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        if key in _NOT_EMULATED:
            raise not_supported(f"[{key}] in a search request")
        raise parsing(f"Unknown key for a START_OBJECT in [{key}].")
    if body.get("script_fields"):
        raise not_supported("script_fields")
    if body.get("explain"):
        raise not_supported("explain")
    if body.get("_source", True) not in (True, False):
        raise not_supported("_source filtering (only true or false)")
    return body


def _indices(store: Store, expression: str | None, params: dict[str, str]) -> list[Index]:
    names = store.resolve(
        expression,
        ignore_unavailable=_flag(params.get("ignore_unavailable", "false")),
        allow_no_indices=_flag(params.get("allow_no_indices", "true")),
    )
    return [store.index(name) for name in names]


def matching_rows(indices: list[Index], query: Any, now_ms: int) -> list[Row]:
    """The rows matching the query, in index order."""
    rows: list[Row] = []
    position = 0
    for index in indices:
        matcher = compile_query(query, QueryContext(index.mapping, now_ms))
        for doc in index.docs.values():
            if matcher(doc.fields):
                rows.append(Row(index.name, index.mapping, doc, position))
            position += 1
    return rows


def _total(count: int, track: Any, as_int: bool) -> Any:
    if as_int:
        return count
    if track is True:
        return {"value": count, "relation": "eq"}
    limit = DEFAULT_TRACK_TOTAL_HITS if track is None else int(track)
    if count > limit:
        return {"value": limit, "relation": "gte"}
    return {"value": count, "relation": "eq"}


def search(
    store: Store, expression: str | None, body: Any, params: dict[str, str]
) -> dict[str, Any]:
    """The response of `GET|POST <expression>/_search`."""
    started = time.monotonic()
    now_ms = now_millis()
    _check_params(params)
    request = _check_body(body)
    size = _int(request.get("size", 10), "size")
    start = _int(request.get("from", 0), "from")
    if size + start > MAX_RESULT_WINDOW:
        raise bad_request(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_RESULT_WINDOW}] but was [{size + start}]. See the scroll api for a more "
            "efficient way to request large data sets. This limit can be set by changing the "
            "[index.max_result_window] index level setting."
        )
    indices = _indices(store, expression, params)
    keys = parse_sort(request.get("sort"))
    check_sort_fields(keys, [index.mapping for index in indices])
    rows = matching_rows(indices, request.get("query"), now_ms)
    ordered = order_rows(rows, keys)
    options = HitOptions(
        fetch_source=request.get("_source", True),
        with_sort=bool(keys) and any(k.field != "_score" for k in keys),
    )
    hits = [build_hit(row, options) for row in ordered[start : start + size]]
    track = request.get("track_total_hits")
    hits_section: dict[str, Any] = {}
    if track is not False or _flag(params.get("rest_total_hits_as_int", "false")):
        hits_section["total"] = _total(
            len(rows), track, _flag(params.get("rest_total_hits_as_int", "false"))
        )
    hits_section["max_score"] = None if options.with_sort or not hits else 1.0
    hits_section["hits"] = hits
    response: dict[str, Any] = {
        "took": int((time.monotonic() - started) * 1000),
        "timed_out": False,
        "_shards": _shards(indices),
        "hits": hits_section,
    }
    aggs = request.get("aggs", request.get("aggregations"))
    if aggs:
        ctx = AggContext(now_ms, typed_keys=_flag(params.get("typed_keys", "false")))
        response["aggregations"] = run_aggregations(aggs, rows, ctx)
    return response


def count(
    store: Store, expression: str | None, body: Any, params: dict[str, str]
) -> dict[str, Any]:
    """The response of `GET|POST <expression>/_count`."""
    body = body or {}
    if not isinstance(body, dict) or set(body) - {"query"}:
        raise parsing("request does not support [" + ",".join(sorted(set(body) - {"query"})) + "]")
    _check_params(params)
    query = body.get("query")
    indices = _indices(store, expression, params)
    rows = matching_rows(indices, query, now_millis())
    return {"count": len(rows), "_shards": _shards(indices)}
