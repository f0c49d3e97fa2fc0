"""Aggregations of the emulated OpenSearch.

The ones the pipeline's dashboards and the demo's accounting send (localcloud/opensearch/README.md).
Metrics: `avg`, `max`, `cardinality` (exact, where OpenSearch estimates above its precision
threshold of 3000 distinct values). Buckets: `terms` (size, min_doc_count >= 1, order by
`_count` or `_key`), `date_histogram` (`calendar_interval` minute..year, `time_zone`, `format`,
`min_doc_count`, `extended_bounds`, `order`), `histogram` (`interval`, `min_doc_count`,
`extended_bounds`; of a field, or of the one script `painless.py` runs: the dashboards' scripted
hour of day); every bucket aggregation takes sub-aggregations. Other aggregations and options
(`fixed_interval`, `interval` of a date_histogram, `offset`, `hard_bounds`, `keyed`, `missing`,
`include`/`exclude`, ordering by a sub-aggregation: nothing sends them) are rejected as not
supported by the emulation.

As in OpenSearch, a metric over a `text` field needs `fielddata`, `avg`/`max` accept numeric and
date fields only, results are doubles, and date results add `value_as_string`.
Terms counts are exact (`doc_count_error_upper_bound` is always 0: the emulation has one shard).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from localcloud.opensearch.dates import (
    CALENDAR_UNITS,
    DateError,
    add_unit,
    format_date,
    parse_date_math,
    parse_time_zone,
    round_down,
)
from localcloud.opensearch.errors import OpenSearchError, bad_request, not_supported, parsing
from localcloud.opensearch.mapping import INTEGER_RANGES, FieldSpec, analyze
from localcloud.opensearch.painless import script_values
from localcloud.opensearch.query import Row, fielddata_error

MAX_BUCKETS = 65_535
# Options of the emulated aggregations that no client sends (README "Aggregations").
_NOT_EMULATED = {"missing", "include", "exclude", "keyed", "offset", "hard_bounds"}


@dataclass(frozen=True)
class AggContext:
    now_ms: int
    typed_keys: bool = False


def run_aggregations(spec: Any, rows: list[Row], ctx: AggContext) -> dict[str, Any]:
    """The `aggregations` object of a response for the request's `aggs` over matching rows."""
    if not isinstance(spec, dict):
        raise parsing("[aggs] must be an object")
    results: dict[str, Any] = {}
    for name, body in spec.items():
        if re.search(r"[\[\]>]", name):
            raise parsing(
                f"Invalid aggregation name [{name}]. Aggregation names can contain any character "
                "except '[', ']', and '>'"
            )
        if not isinstance(body, dict):
            raise parsing(f"Expected [START_OBJECT] under [{name}], but got a value")
        kinds = [k for k in body if k not in {"aggs", "aggregations", "meta"}]
        if len(kinds) != 1:
            raise parsing(f"Expected one aggregation type under [{name}], found {kinds}")
        kind = kinds[0]
        params = body[kind]
        if not isinstance(params, dict):
            raise parsing(f"[{kind}] aggregation [{name}] must be an object")
        if "script" in params and kind != "histogram":
            raise not_supported(f"a script in aggregation [{name}]")
        for option in _NOT_EMULATED.intersection(params):
            raise not_supported(f"[{option}] in aggregation [{name}]")
        subs = body.get("aggs", body.get("aggregations"))
        if subs is not None and kind in _METRICS:
            raise OpenSearchError(
                400,
                "aggregation_initialization_exception",
                f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations",
            )
        handler = _METRICS.get(kind) or _BUCKETS.get(kind)
        if handler is None:
            raise not_supported(f"the [{kind}] aggregation")
        result, typed = handler(name, params, subs, rows, ctx)
        if "meta" in body:
            result["meta"] = body["meta"]
        results[f"{typed}#{name}" if ctx.typed_keys else name] = result
    return results


# ---------------------------------------------------------------- fields and values


def field_spec(rows: list[Row], path: str) -> FieldSpec | None:
    """The field's spec in the first index (among the rows) that maps it."""
    seen: set[int] = set()
    for row in rows:
        if id(row.mapping) in seen:
            continue
        seen.add(id(row.mapping))
        spec = row.mapping.field(path)
        if spec is not None:
            return spec
    return None


Getter = Callable[[Row], list[Any]]


def _field(
    name: str, kind: str, params: dict[str, Any], rows: list[Row], numeric: bool = False
) -> tuple[FieldSpec | None, Getter]:
    """The aggregation's field (its spec in the first index that maps it) and how to read a row's
    values, checking the field type allows the aggregation (numeric: numbers and dates only)."""
    path = params.get("field")
    if not isinstance(path, str) or not path:
        raise bad_request(
            f"Required one of fields [field, script], but none were specified for [{name}] ({kind})"
        )
    spec = field_spec(rows, path)
    if spec is not None and spec.type == "text" and not spec.fielddata:
        raise fielddata_error(path)
    if numeric and spec is not None and not (spec.is_numeric or spec.is_date):
        raise bad_request(
            f"Field [{path}] of type [{spec.type}] is not supported for aggregation [{kind}]"
        )
    if spec is not None and spec.type == "text":
        return spec, lambda row: [t for v in row.fields.get(path, ()) for t in analyze(v)]
    return spec, lambda row: row.fields.get(path, [])


def _as_string(
    spec: FieldSpec | None, value: float | None, params: dict[str, Any]
) -> dict[str, str]:
    if value is None or spec is None or not spec.is_date:
        return {}
    fmt = params.get("format", spec.format)
    return {"value_as_string": format_date(int(value), fmt)}


# ---------------------------------------------------------------- metrics

MetricHandler = Callable[
    [str, dict[str, Any], Any, list[Row], AggContext], tuple[dict[str, Any], str]
]


def _numbers(
    name: str, kind: str, params: dict[str, Any], rows: list[Row]
) -> tuple[FieldSpec | None, list[float]]:
    spec, getter = _field(name, kind, params, rows, numeric=True)
    values: list[float] = []
    for row in rows:
        values.extend(float(v) for v in getter(row))
    return spec, values


def _single_metric(kind: str) -> MetricHandler:
    def handler(
        name: str, params: dict[str, Any], _subs: Any, rows: list[Row], _ctx: AggContext
    ) -> tuple[dict[str, Any], str]:
        spec, values = _numbers(name, kind, params, rows)
        value: float | None
        if not values:
            value = None
        elif kind == "avg":
            value = math.fsum(values) / len(values)
        else:
            value = max(values)
        return {"value": value, **_as_string(spec, value, params)}, kind

    return handler


def _cardinality(
    name: str, params: dict[str, Any], _subs: Any, rows: list[Row], _ctx: AggContext
) -> tuple[dict[str, Any], str]:
    _spec, getter = _field(name, "cardinality", params, rows)
    distinct = {v for row in rows for v in getter(row)}
    return {"value": len(distinct)}, "cardinality"


_METRICS: dict[str, MetricHandler] = {
    "avg": _single_metric("avg"),
    "max": _single_metric("max"),
    "cardinality": _cardinality,
}


# ---------------------------------------------------------------- buckets


@dataclass
class _Bucket:
    key: Any
    rows: list[Row]
    extra: dict[str, Any]
    subs: dict[str, Any]

    @property
    def doc_count(self) -> int:
        return len(self.rows)

    def render(self) -> dict[str, Any]:
        return {"key": self.key, **self.extra, "doc_count": self.doc_count, **self.subs}


def _fill_subs(buckets: list[_Bucket], subs: Any, ctx: AggContext) -> None:
    if subs:
        for bucket in buckets:
            bucket.subs = run_aggregations(subs, bucket.rows, ctx)


def _check_bucket_count(count: int) -> None:
    if count > MAX_BUCKETS:
        raise OpenSearchError(
            503,
            "too_many_buckets_exception",
            f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}] "
            f"but was [{count}]. This limit can be set by changing the [search.max_buckets] "
            "cluster level setting.",
            max_buckets=MAX_BUCKETS,
        )


def _group(rows: list[Row], keys_of: Callable[[Row], list[Any]]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        for key in dict.fromkeys(keys_of(row)):
            groups.setdefault(key, []).append(row)
    return groups


# -------- terms


def _order_spec(order: Any, default: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """[(target, descending)] from `{"_count": "desc"}` or a list of such objects."""
    if order is None:
        return default
    items = order if isinstance(order, list) else [order]
    parsed = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise parsing("[order] must be an object with one key, or a list of them")
        target, direction = next(iter(item.items()))
        if str(direction).lower() not in {"asc", "desc"}:
            raise bad_request(f"Unknown order direction [{direction}]")
        if target not in {"_count", "_key", "_term"}:
            raise not_supported(f"ordering buckets by [{target}] (only _count and _key are)")
        parsed.append(("_key" if target == "_term" else target, str(direction).lower() == "desc"))
    return parsed


def _sort_buckets(buckets: list[_Bucket], order: list[tuple[str, bool]]) -> list[_Bucket]:
    ordered = sorted(buckets, key=lambda bucket: bucket.key)  # ties: by key, ascending
    for target, descending in reversed(order):  # a stable sort per key, the last key first
        ordered.sort(
            key=lambda b, t=target: b.doc_count if t == "_count" else b.key, reverse=descending
        )
    return ordered


def _key_extra(spec: FieldSpec | None, key: Any, fmt: str | None = None) -> dict[str, Any]:
    if spec is None:
        return {}
    if spec.is_date:
        return {"key_as_string": format_date(int(key), fmt or spec.format)}
    if spec.type == "boolean":
        return {"key_as_string": "true" if key else "false"}
    return {}


def _terms(
    name: str, params: dict[str, Any], subs: Any, rows: list[Row], ctx: AggContext
) -> tuple[dict[str, Any], str]:
    spec, getter = _field(name, "terms", params, rows)
    size = int(params.get("size", 10))
    min_doc_count = int(params.get("min_doc_count", 1))
    if min_doc_count < 1:
        raise not_supported("terms with min_doc_count 0")
    if size < 1:
        raise bad_request(f"[size] must be greater than 0. Found [{size}] in [{name}]")

    def keys_of(row: Row) -> list[Any]:
        values = getter(row)
        if spec is not None and spec.type == "boolean":
            values = [1 if v else 0 for v in values]
        return values

    groups = _group(rows, keys_of)
    buckets = [_Bucket(key, members, _key_extra(spec, key), {}) for key, members in groups.items()]
    buckets = [b for b in buckets if b.doc_count >= min_doc_count]
    ordered = _sort_buckets(buckets, _order_spec(params.get("order"), [("_count", True)]))
    kept = ordered[:size]
    _fill_subs(kept, subs, ctx)
    other = sum(b.doc_count for b in ordered[size:])
    typed = "sterms"
    if spec is not None and (spec.type in INTEGER_RANGES or spec.is_date or spec.type == "boolean"):
        typed = "lterms"
    elif spec is not None and spec.is_numeric:
        typed = "dterms"
    return {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": other,
        "buckets": [b.render() for b in kept],
    }, typed


# -------- histograms


def _render_histogram(
    buckets: list[_Bucket], params: dict[str, Any], default_order: list[tuple[str, bool]]
) -> dict[str, Any]:
    ordered = _sort_buckets(buckets, _order_spec(params.get("order"), default_order))
    return {"buckets": [b.render() for b in ordered]}


@dataclass(frozen=True)
class _DateRounding:
    unit: str
    tz: tzinfo

    def key(self, ms: int) -> int:
        return round_down(ms, self.unit, self.tz)

    def next(self, key: int) -> int:
        return self.key(add_unit(key, 1, self.unit, self.tz))


def _date_rounding(name: str, params: dict[str, Any]) -> _DateRounding:
    for option in ("fixed_interval", "interval"):
        if option in params:
            raise not_supported(f"[{option}] in date_histogram [{name}] (calendar_interval is)")
    text = params.get("calendar_interval")
    if text is None:
        raise bad_request(f"Invalid interval specified, must be non-null and non-empty [{name}]")
    if str(text) not in CALENDAR_UNITS:
        raise bad_request(
            f"The supplied interval [{text}] could not be parsed as a calendar interval."
        )
    try:
        return _DateRounding(CALENDAR_UNITS[str(text)], parse_time_zone(params.get("time_zone")))
    except DateError as err:
        raise bad_request(str(err)) from err


def _date_bound(value: Any, fmt: str, ctx: AggContext, tz: tzinfo) -> int:
    try:
        return parse_date_math(value, fmt, tz, False, ctx.now_ms)
    except DateError as err:
        raise bad_request(f"failed to parse bound [{value}]: {err}") from err


def _date_histogram(
    name: str, params: dict[str, Any], subs: Any, rows: list[Row], ctx: AggContext
) -> tuple[dict[str, Any], str]:
    spec, getter = _field(name, "date_histogram", params, rows, numeric=True)
    rounding = _date_rounding(name, params)
    fmt = params.get("format") or (
        spec.format if spec is not None and spec.is_date else "strict_date_optional_time"
    )
    groups = _group(rows, lambda row: [rounding.key(int(v)) for v in getter(row)])
    min_doc_count = int(params.get("min_doc_count", 0))
    keys = sorted(groups)
    if min_doc_count == 0:
        bounds = params.get("extended_bounds") or {}
        edges = list(keys)
        for edge in ("min", "max"):
            if bounds.get(edge) is not None:
                edges.append(rounding.key(_date_bound(bounds[edge], fmt, ctx, rounding.tz)))
        if edges:
            keys = []
            key, last = min(edges), max(edges)
            while key <= last:
                keys.append(key)
                _check_bucket_count(len(keys))
                key = rounding.next(key)
    _check_bucket_count(len(keys))
    tz = rounding.tz
    buckets = [
        _Bucket(k, groups.get(k, []), {"key_as_string": format_date(k, fmt, tz)}, {})
        for k in keys
        if len(groups.get(k, [])) >= min_doc_count
    ]
    _fill_subs(buckets, subs, ctx)
    return _render_histogram(buckets, params, [("_key", False)]), "date_histogram"


def _histogram(
    name: str, params: dict[str, Any], subs: Any, rows: list[Row], ctx: AggContext
) -> tuple[dict[str, Any], str]:
    if "script" in params:  # a scripted field of the dashboards (painless.py)
        getter = script_values(params["script"])
    else:
        _spec, getter = _field(name, "histogram", params, rows, numeric=True)
    interval = params.get("interval")
    if not isinstance(interval, int | float) or interval <= 0:
        raise bad_request(f"[interval] must be >0 for histogram aggregation [{name}]")

    def slot(value: float) -> int:
        return math.floor(value / interval)

    groups = _group(rows, lambda row: [slot(float(v)) for v in getter(row)])
    min_doc_count = int(params.get("min_doc_count", 0))
    slots = sorted(groups)
    if min_doc_count == 0:
        bounds = params.get("extended_bounds") or {}
        edges = list(slots) + [
            slot(float(bounds[e])) for e in ("min", "max") if bounds.get(e) is not None
        ]
        if edges:
            _check_bucket_count(max(edges) - min(edges) + 1)
            slots = list(range(min(edges), max(edges) + 1))
    _check_bucket_count(len(slots))
    buckets = [
        _Bucket(s * interval + 0.0, groups.get(s, []), {}, {})
        for s in slots
        if len(groups.get(s, [])) >= min_doc_count
    ]
    _fill_subs(buckets, subs, ctx)
    return _render_histogram(buckets, params, [("_key", False)]), "histogram"


BucketHandler = Callable[
    [str, dict[str, Any], Any, list[Row], AggContext], tuple[dict[str, Any], str]
]
_BUCKETS: dict[str, BucketHandler] = {
    "terms": _terms,
    "date_histogram": _date_histogram,
    "histogram": _histogram,
}
