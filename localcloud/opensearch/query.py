"""Query DSL of the emulated OpenSearch: queries compiled to predicates, sorting, hits.

Queries: the ones the pipeline and its dashboards send (localcloud/opensearch/README.md):
`match_all`, `term` (`value`), `range` (numbers, dates with formats, time zones and date math
such as `now-1h/h`, strings) and `bool` (must, filter, should, must_not). A `term` on a text field
meets its tokens, analysed like the standard analyser (lower-cased words).

Relevance is not computed: every hit scores 1.0. Other query types are rejected with a 400 that
says they are not supported by the emulated OpenSearch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from localcloud.opensearch.dates import DateError, parse_date_math, parse_time_zone
from localcloud.opensearch.errors import OpenSearchError, bad_request, not_supported, parsing
from localcloud.opensearch.mapping import (
    INTEGER_RANGES,
    FieldSpec,
    MalformedValue,
    Mapping,
    analyze,
)
from localcloud.opensearch.store import Document

Fields = dict[str, list[Any]]
Matcher = Callable[[Fields], bool]


def _never(_fields: Fields) -> bool:
    return False


def _always(_fields: Fields) -> bool:
    return True


@dataclass(frozen=True)
class QueryContext:
    """What one request's queries share: the mapping of the index being searched and `now`."""

    mapping: Mapping
    now_ms: int


def shard_error(reason: str) -> OpenSearchError:
    return OpenSearchError(400, "query_shard_exception", reason)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _single(kind: str, body: Any) -> tuple[str, Any]:
    """`{"field": params}` of a field-level query (boost-like extras are ignored)."""
    if not isinstance(body, dict):
        raise parsing(f"[{kind}] query malformed, no start_object after query name")
    keys = [k for k in body if k not in {"boost", "_name"}]
    if len(keys) != 1:
        raise parsing(f"[{kind}] query doesn't support multiple fields, found {keys}")
    return keys[0], body[keys[0]]


def query_value(
    spec: FieldSpec,
    value: Any,
    ctx: QueryContext,
    fmt: str | None = None,
    tz: tzinfo = UTC,
    round_up: bool = False,
) -> Any:
    """A query's value converted to the field's indexed form (400 if it cannot be)."""
    try:
        if spec.is_date:
            return parse_date_math(value, fmt or spec.format, tz, round_up, ctx.now_ms)
        if spec.type in INTEGER_RANGES:
            number = float(spec.convert(value) if isinstance(value, str) else value)
            if number != int(number):
                raise shard_error(f"failed to create query: Value [{value}] has a decimal part")
            return int(number)
        return spec.convert(value)
    except (MalformedValue, DateError, TypeError, ValueError) as err:
        raise shard_error(f"failed to create query: {err}") from err


def _text_matcher(path: str, test: Callable[[list[str]], bool]) -> Matcher:
    return lambda fields: any(test(analyze(v)) for v in fields.get(path, ()))


def _term(path: str, value: Any, ctx: QueryContext) -> Matcher:
    spec = ctx.mapping.field(path)
    if spec is None:
        return _never
    if isinstance(value, dict | list):
        raise parsing(f"[term] query does not support an array or object value for [{path}]")
    target = query_value(spec, value, ctx)
    if spec.type == "text":
        return _text_matcher(path, lambda tokens: target in tokens)
    return lambda fields: target in fields.get(path, ())


def _range(body: dict[str, Any], ctx: QueryContext) -> Matcher:
    path, params = _single("range", body)
    if not isinstance(params, dict):
        raise parsing(f"[range] query malformed for field [{path}]")
    for legacy in {"from", "to", "include_lower", "include_upper"}.intersection(params):
        raise not_supported(f"[{legacy}] in a range query (gte, gt, lte and lt are)")
    unknown = set(params) - {"gte", "gt", "lte", "lt", "format", "time_zone", "boost", "_name"}
    if unknown:
        raise parsing(f"[range] query does not support [{sorted(unknown)[0]}]")
    bounds = {k: params[k] for k in ("gte", "gt", "lte", "lt") if params.get(k) is not None}
    spec = ctx.mapping.field(path)
    if spec is None:
        return _never
    if spec.type in {"text", "boolean"}:
        raise not_supported(f"a range query on the {spec.type} field [{path}]")
    try:
        tz = parse_time_zone(params.get("time_zone"))
    except DateError as err:
        raise bad_request(str(err)) from err
    limits: list[tuple[str, Any]] = []
    for op, raw in bounds.items():
        if spec.is_numeric and spec.type in INTEGER_RANGES:
            try:
                limits.append((op, float(raw)))
            except (TypeError, ValueError) as err:
                raise shard_error(f'failed to create query: For input string: "{raw}"') from err
        else:
            value = query_value(
                spec, raw, ctx, params.get("format"), tz, round_up=op in {"gt", "lte"}
            )
            limits.append((op, value))
    return lambda fields: any(_within(v, limits) for v in fields.get(path, ()))


def _within(value: Any, limits: list[tuple[str, Any]]) -> bool:
    for op, bound in limits:
        if op == "gte" and not value >= bound:
            return False
        if op == "gt" and not value > bound:
            return False
        if op == "lte" and not value <= bound:
            return False
        if op == "lt" and not value < bound:
            return False
    return True


def _bool(body: dict[str, Any], ctx: QueryContext) -> Matcher:
    if "minimum_should_match" in body:
        raise not_supported("[minimum_should_match] in a bool query")
    unknown = set(body) - {"must", "filter", "should", "must_not", "boost", "_name"}
    if unknown:
        raise parsing(f"[bool] query does not support [{sorted(unknown)[0]}]")
    required = [
        compile_query(q, ctx) for q in as_list(body.get("must")) + as_list(body.get("filter"))
    ]
    excluded = [compile_query(q, ctx) for q in as_list(body.get("must_not"))]
    optional = [compile_query(q, ctx) for q in as_list(body.get("should"))]
    needed = 1 if optional and not required else 0

    def matcher(fields: Fields) -> bool:
        if not all(m(fields) for m in required):
            return False
        if any(m(fields) for m in excluded):
            return False
        if needed == 0:
            return True
        return sum(1 for m in optional if m(fields)) >= needed

    return matcher


def _term_query(body: dict[str, Any], ctx: QueryContext) -> Matcher:
    path, params = _single("term", body)
    if isinstance(params, dict):
        if "case_insensitive" in params:
            raise not_supported("[case_insensitive] in a term query")
        return _term(path, params.get("value"), ctx)
    return _term(path, params, ctx)


_QUERIES: dict[str, Callable[[dict[str, Any], QueryContext], Matcher]] = {
    "bool": _bool,
    "term": _term_query,
    "range": _range,
}


def compile_query(query: Any, ctx: QueryContext) -> Matcher:
    """A predicate over a document's indexed values; raises a 400 for malformed queries."""
    if query is None:
        return _always
    if not isinstance(query, dict) or len(query) != 1:
        raise parsing("query malformed, must be an object with exactly one query type")
    kind, body = next(iter(query.items()))
    if kind == "match_all":
        return _always
    if kind not in _QUERIES:
        raise not_supported(f"the [{kind}] query")
    if not isinstance(body, dict):
        raise parsing(f"[{kind}] query malformed, no start_object after query name")
    return _QUERIES[kind](body, ctx)


# ---------------------------------------------------------------- sorting


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


def parse_sort(sort: Any) -> list[SortKey]:
    """`{"ts": "desc"}` or `{"ts": {"order": "desc"}}`; a document without the field sorts last."""
    keys = []
    for item in as_list(sort):
        if not isinstance(item, dict) or len(item) != 1:
            raise not_supported("a sort other than a list of {field: order} objects")
        name, spec = next(iter(item.items()))
        if isinstance(spec, str):
            spec = {"order": spec}
        if not isinstance(spec, dict):
            raise parsing(f"malformed sort for [{name}]")
        for option in sorted(set(spec) - {"order"}):
            raise not_supported(f"[{option}] in the sort on [{name}]")
        order = str(spec.get("order", "desc" if name == "_score" else "asc")).lower()
        if order not in {"asc", "desc"}:
            raise bad_request(f"Unknown SortOrder [{order}]")
        keys.append(SortKey(name, order == "desc"))
    return keys


def check_sort_fields(keys: Iterable[SortKey], mappings: list[Mapping]) -> None:
    """A sort on a field no index maps, or on a text field, fails as in OpenSearch."""
    for key in keys:
        if key.field in {"_score", "_doc", "_id", "_index"}:
            continue
        specs = [m.field(key.field) for m in mappings]
        found = [s for s in specs if s is not None]
        if not found and mappings:
            raise shard_error(f"No mapping found for [{key.field}] in order to sort on")
        for spec in found:
            if spec.type == "text" and not spec.fielddata:
                raise fielddata_error(key.field)


def fielddata_error(path: str) -> OpenSearchError:
    return bad_request(
        f"Text fields are not optimised for operations that require per-document field data like "
        f"aggregations and sorting, so these operations are disabled by default. Please use a "
        f"keyword field instead. Alternatively, set fielddata=true on [{path}] in order to load "
        f"field data by uninverting the inverted index. Note that this can use significant memory."
    )


def sort_value(key: SortKey, fields: Fields, score: float, position: int) -> Any:
    """The value a document sorts by for one key (None when it has none)."""
    if key.field in {"_score", "_doc"}:
        return score if key.field == "_score" else position
    values = fields.get(key.field, [])
    if not values:
        return None
    return max(values) if key.descending else min(values)


def compare_sort_values(keys: list[SortKey], left: list[Any], right: list[Any]) -> int:
    for key, a, b in zip(keys, left, right, strict=True):
        if a == b:
            continue
        if a is None or b is None:
            return 1 if a is None else -1
        result = -1 if _rank(a) < _rank(b) else 1
        return -result if key.descending else result
    return 0


def _rank(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def sort_cmp(keys: list[SortKey]) -> Callable[[Any], Any]:
    """A key function for `sorted` over objects with a `sort_values` list."""
    return functools.cmp_to_key(
        lambda a, b: compare_sort_values(keys, a.sort_values, b.sort_values)
    )


# ---------------------------------------------------------------- rows and hits


@dataclass
class Row:
    """A document matched by a search, with what sorting and hit building need."""

    index_name: str
    mapping: Mapping
    doc: Document
    position: int = 0
    score: float = 1.0
    sort_values: list[Any] = field(default_factory=list)

    @property
    def fields(self) -> Fields:
        return self.doc.fields


@dataclass(frozen=True)
class HitOptions:
    """How hits are printed: with `_source` or not, with `sort` values or not."""

    fetch_source: bool = True
    with_sort: bool = False


def build_hit(row: Row, options: HitOptions) -> dict[str, Any]:
    hit: dict[str, Any] = {"_index": row.index_name, "_id": row.doc.id}
    hit["_score"] = None if options.with_sort else row.score
    if options.fetch_source:
        hit["_source"] = row.doc.source
    if options.with_sort:
        hit["sort"] = row.sort_values
    return hit


def order_rows(rows: list[Row], keys: list[SortKey]) -> list[Row]:
    """rows sorted by keys (default: score, then index order), with sort_values filled in."""
    if not keys:
        return rows
    for row in rows:
        row.sort_values = [sort_value(k, row.fields, row.score, row.position) for k in keys]
    return sorted(rows, key=sort_cmp(keys))
