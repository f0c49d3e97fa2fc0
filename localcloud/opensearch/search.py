"""`_search` and `_count` of the emulated OpenSearch over one or more indices.

Request body: `query`, `size` (default 10), `from`, `sort`, `_source`, `aggs`/`aggregations`,
`track_total_hits` (default 10,000 as in OpenSearch), `version`; `timeout`, `track_scores`,
`stored_fields` and `highlight` are accepted and ignored (hits carry no highlight). URL
parameters `size`, `from`, `sort`, `_source`, `_source_includes`, `_source_excludes`,
`track_total_hits`, `rest_total_hits_as_int`, `typed_keys`, `q=*`, `ignore_unavailable`,
`allow_no_indices` are honoured and override the body, as in OpenSearch. Scroll, point in time,
`search_after`, `post_filter`, `docvalue_fields`, scripts and `q` queries other than `*` (nothing
here uses them) are refused by name.
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
    parse_source_filter,
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
}
_BODY_KEYS = {
    "query",
    "size",
    "from",
    "sort",
    "_source",
    "aggs",
    "aggregations",
    "track_total_hits",
    "version",
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


def _merge_params(body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """The request's body with URL parameters applied over it."""
    merged = dict(body)
    for key in ("size", "from", "sort", "track_total_hits", "_source"):
        if key in params:
            merged[key] = params[key]
    if "sort" in params:
        merged["sort"] = params["sort"].split(",")
    if "track_total_hits" in params:
        text = params["track_total_hits"].lower()
        merged["track_total_hits"] = (
            text == "true" if text in {"true", "false"} else _int(text, "track_total_hits")
        )
    if "_source_includes" in params or "_source_excludes" in params:
        merged["_source"] = {
            "includes": [p for p in params.get("_source_includes", "").split(",") if p],
            "excludes": [p for p in params.get("_source_excludes", "").split(",") if p],
        }
    query_text = params.get("q")
    if query_text is not None:
        if query_text.strip() not in {"*", "*:*"}:
            raise not_supported(f"the URL query q=[{query_text}] (only q=* is)")
        merged["query"] = {"match_all": {}}
    if "scroll" in params:
        raise not_supported("scroll")
    return merged


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
    return body


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
    request = _merge_params(_check_body(body), params)
    size = _int(request.get("size", 10), "size")
    start = _int(request.get("from", 0), "from")
    if size + start > MAX_RESULT_WINDOW:
        raise bad_request(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_RESULT_WINDOW}] but was [{size + start}]. See the scroll api for a more "
            "efficient way to request large data sets. This limit can be set by changing the "
            "[index.max_result_window] index level setting."
        )
    indices = [
        store.index(name)
        for name in store.resolve(
            expression,
            ignore_unavailable=_flag(params.get("ignore_unavailable", "false")),
            allow_no_indices=_flag(params.get("allow_no_indices", "true")),
        )
    ]
    keys = parse_sort(request.get("sort"))
    check_sort_fields(keys, [index.mapping for index in indices])
    rows = matching_rows(indices, request.get("query"), now_ms)
    ordered = order_rows(rows, keys)
    fetch, includes, excludes = parse_source_filter(request.get("_source"))
    options = HitOptions(
        fetch_source=fetch,
        includes=tuple(includes),
        excludes=tuple(excludes),
        with_sort=bool(keys) and any(k.field != "_score" for k in keys),
        version=_flag(request.get("version", False)),
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
    query = body.get("query")
    if "q" in params:
        if params["q"].strip() not in {"*", "*:*"}:
            raise not_supported(f"the URL query q=[{params['q']}] (only q=* is)")
        query = None
    indices = [
        store.index(name)
        for name in store.resolve(
            expression,
            ignore_unavailable=_flag(params.get("ignore_unavailable", "false")),
            allow_no_indices=_flag(params.get("allow_no_indices", "true")),
        )
    ]
    rows = matching_rows(indices, query, now_millis())
    return {"count": len(rows), "_shards": _shards(indices)}
