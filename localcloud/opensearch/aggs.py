"""Aggregations of the emulated OpenSearch.

The ones the pipeline's dashboards and the demo's accounting send (localcloud/opensearch/README.md).
Metrics: `avg`, `max`, `cardinality` (exact, where OpenSearch estimates above its precision
threshold of 3000 distinct values). Buckets: `terms` (size, min_doc_count >= 1, order by
`_count`, `_key` or a metric sub-aggregation such as `max_temp`, include/exclude, missing),
`date_histogram` (`calendar_interval` minute..year, `fixed_interval` such as `30m` or `1h`, the
deprecated `interval`, `time_zone`, `offset`, `format`, `min_doc_count`, `extended_bounds`,
`hard_bounds`, `order`, `keyed`, `missing`), `histogram` (of a field, or of the one script
`painless.py` runs: the dashboards' scripted hour of day); every bucket aggregation takes
sub-aggregations. Others are rejected as not supported by the emulation.

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
    fixed_interval_ms,
    format_date,
    parse_date_math,
    parse_time_zone,
    round_down,
    to_datetime,
)
from localcloud.opensearch.errors import OpenSearchError, bad_request, not_supported, parsing
from localcloud.opensearch.mapping import INTEGER_RANGES, FieldSpec, analyze
from localcloud.opensearch.painless import script_values
from localcloud.opensearch.query import Row, fielddata_error

MAX_BUCKETS = 65_535


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


def _field_path(name: str, kind: str, params: dict[str, Any]) -> str:
    path = params.get("field")
    if not isinstance(path, str) or not path:
        raise bad_request(
            f"Required one of fields [field, script], but none were specified for [{name}] ({kind})"
        )
    return path


def _values_getter(
    spec: FieldSpec | None, path: str, kind: str, params: dict[str, Any]
) -> Callable[[Row], list[Any]]:
    """How to read a row's values for an aggregation, checking the field type allows it."""
    if spec is not None and spec.type == "text":
        if not spec.fielddata:
            raise fielddata_error(path)
        return _with_missing(
            lambda row: [t for v in row.fields.get(path, ()) for t in analyze(v)], spec, params
        )
    return _with_missing(lambda row: row.fields.get(path, []), spec, params)


def _with_missing(
    getter: Callable[[Row], list[Any]], spec: FieldSpec | None, params: dict[str, Any]
) -> Callable[[Row], list[Any]]:
    if "missing" not in params:
        return getter
    if spec is None:
        fallback = [params["missing"]]
    else:
        try:
            fallback = [spec.convert(params["missing"])]
        except ValueError as err:
            raise bad_request(
                f"failed to parse [missing] value [{params['missing']}]: {err}"
            ) from err
    return lambda row: getter(row) or fallback


def _require_numeric(spec: FieldSpec | None, path: str, kind: str) -> None:
    if spec is not None and not (spec.is_numeric or spec.is_date):
        raise bad_request(
            f"Field [{path}] of type [{spec.type}] is not supported for aggregation [{kind}]"
        )


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
    path = _field_path(name, kind, params)
    spec = field_spec(rows, path)
    if spec is not None and spec.type == "text" and not spec.fielddata:
        raise fielddata_error(path)
    _require_numeric(spec, path, kind)
    getter = _values_getter(spec, path, kind, params)
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
    path = _field_path(name, "cardinality", params)
    spec = field_spec(rows, path)
    getter = _values_getter(spec, path, "cardinality", params)
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
        parsed.append(("_key" if target == "_term" else target, str(direction).lower() == "desc"))
    return parsed


def _metric_of(bucket: _Bucket, target: str) -> Any:
    result = bucket.subs.get(target)
    if result is None:
        raise OpenSearchError(
            400,
            "aggregation_execution_exception",
            f"Invalid aggregation order path [{target}]. The provided aggregation [{target}] "
            "does not exist",
        )
    if "value" not in result:
        raise OpenSearchError(
            400,
            "aggregation_execution_exception",
            f"Invalid aggregation order path [{target}]. Buckets can only be sorted on a "
            "single-value metrics aggregation",
        )
    return result["value"]


def _sort_buckets(buckets: list[_Bucket], order: list[tuple[str, bool]]) -> list[_Bucket]:
    def sort_key(bucket: _Bucket) -> tuple[Any, ...]:
        parts: list[Any] = []
        for target, descending in order:
            if target == "_count":
                value: Any = bucket.doc_count
            elif target == "_key":
                value = bucket.key
            else:
                value = _metric_of(bucket, target)
            missing = value is None
            comparable = _Reversed(value) if descending and not missing else value
            parts.append((missing, comparable if not missing else 0))
        parts.append((False, bucket.key))
        return tuple(parts)

    return sorted(buckets, key=sort_key)


class _Reversed:
    """Wraps a value so that sorting ascending orders it descending."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(other.value == self.value)

    def __hash__(self) -> int:
        return hash(self.value)


def _term_filter(params: dict[str, Any], key: str) -> Callable[[Any], bool] | None:
    rule = params.get(key)
    if rule is None:
        return None
    if isinstance(rule, list):
        wanted = {str(v) for v in rule}
        return lambda value: str(value) in wanted
    if isinstance(rule, str):
        regex = re.compile(rule)
        return lambda value: regex.fullmatch(str(value)) is not None
    raise not_supported(f"terms [{key}] of this form (partitions)")


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
    path = _field_path(name, "terms", params)
    spec = field_spec(rows, path)
    getter = _values_getter(spec, path, "terms", params)
    size = int(params.get("size", 10))
    min_doc_count = int(params.get("min_doc_count", 1))
    if min_doc_count < 1:
        raise not_supported("terms with min_doc_count 0")
    if size < 1:
        raise bad_request(f"[size] must be greater than 0. Found [{size}] in [{name}]")
    include, exclude = _term_filter(params, "include"), _term_filter(params, "exclude")

    def keys_of(row: Row) -> list[Any]:
        values = getter(row)
        if spec is not None and spec.type == "boolean":
            values = [1 if v else 0 for v in values]
        return [
            v
            for v in values
            if (include is None or include(v)) and (exclude is None or not exclude(v))
        ]

    groups = _group(rows, keys_of)
    buckets = [_Bucket(key, members, _key_extra(spec, key), {}) for key, members in groups.items()]
    buckets = [b for b in buckets if b.doc_count >= min_doc_count]
    order = _order_spec(params.get("order"), [("_count", True)])
    if any(target not in {"_count", "_key"} for target, _ in order):
        _fill_subs(buckets, subs, ctx)
        ordered = _sort_buckets(buckets, order)
        kept = ordered[:size]
    else:
        ordered = _sort_buckets(buckets, order)
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
    if params.get("keyed"):
        return {"buckets": {str(b.extra.get("key_as_string", b.key)): b.render() for b in ordered}}
    return {"buckets": [b.render() for b in ordered]}


@dataclass(frozen=True)
class _DateRounding:
    unit: str | None
    fixed_ms: int
    tz: tzinfo
    offset_ms: int

    def key(self, ms: int) -> int:
        shifted = ms - self.offset_ms
        if self.unit is not None:
            return round_down(shifted, self.unit, self.tz) + self.offset_ms
        zone = to_datetime(shifted, self.tz).utcoffset()
        local = int(zone.total_seconds() * 1000) if zone else 0
        return (shifted + local) // self.fixed_ms * self.fixed_ms - local + self.offset_ms

    def next(self, key: int) -> int:
        if self.unit is not None:
            return self.key(add_unit(key - self.offset_ms, 1, self.unit, self.tz) + self.offset_ms)
        return self.key(key + self.fixed_ms)


def _date_rounding(name: str, params: dict[str, Any]) -> _DateRounding:
    given = [k for k in ("calendar_interval", "fixed_interval", "interval") if k in params]
    if not given:
        raise bad_request(f"Invalid interval specified, must be non-null and non-empty [{name}]")
    if len(given) > 1:
        raise bad_request(f"Cannot use [{given[1]}] with [{given[0]}] configuration option.")
    kind, text = given[0], str(params[given[0]])
    try:
        tz = parse_time_zone(params.get("time_zone"))
        offset = _signed_interval(params.get("offset"))
    except DateError as err:
        raise bad_request(str(err)) from err
    if kind == "calendar_interval" or (kind == "interval" and text in CALENDAR_UNITS):
        if text not in CALENDAR_UNITS:
            raise bad_request(
                f"The supplied interval [{text}] could not be parsed as a calendar interval."
            )
        return _DateRounding(CALENDAR_UNITS[text], 0, tz, offset)
    try:
        return _DateRounding(None, fixed_interval_ms(text), tz, offset)
    except DateError as err:
        raise bad_request(
            f"failed to parse setting [date_histogram.fixedInterval] with value [{text}] as a time "
            "value: unit is missing or unrecognized"
        ) from err


def _signed_interval(text: Any) -> int:
    if text is None:
        return 0
    if isinstance(text, int | float):
        return int(text)
    value = str(text).strip()
    sign = -1 if value.startswith("-") else 1
    return sign * fixed_interval_ms(value.lstrip("+-"))


def _date_bound(value: Any, fmt: str, ctx: AggContext, tz: tzinfo) -> int:
    try:
        return parse_date_math(value, fmt, tz, False, ctx.now_ms)
    except DateError as err:
        raise bad_request(f"failed to parse bound [{value}]: {err}") from err


def _date_histogram(
    name: str, params: dict[str, Any], subs: Any, rows: list[Row], ctx: AggContext
) -> tuple[dict[str, Any], str]:
    path = _field_path(name, "date_histogram", params)
    spec = field_spec(rows, path)
    if spec is not None and not (spec.is_date or spec.is_numeric):
        raise bad_request(
            f"Field [{path}] of type [{spec.type}] is not supported for aggregation "
            "[date_histogram]"
        )
    rounding = _date_rounding(name, params)
    fmt = params.get("format") or (
        spec.format if spec is not None and spec.is_date else "strict_date_optional_time"
    )
    getter = _values_getter(spec, path, "date_histogram", params)
    hard = params.get("hard_bounds")
    low = _date_bound(hard["min"], fmt, ctx, rounding.tz) if hard and "min" in hard else None
    high = _date_bound(hard["max"], fmt, ctx, rounding.tz) if hard and "max" in hard else None

    def keys_of(row: Row) -> list[int]:
        return [
            rounding.key(int(v))
            for v in getter(row)
            if (low is None or v >= low) and (high is None or v <= high)
        ]

    groups = _group(rows, keys_of)
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
        path = _field_path(name, "histogram", params)
        spec = field_spec(rows, path)
        _require_numeric(spec, path, "histogram")
        getter = _values_getter(spec, path, "histogram", params)
    interval = params.get("interval")
    if not isinstance(interval, int | float) or interval <= 0:
        raise bad_request(f"[interval] must be >0 for histogram aggregation [{name}]")
    offset = float(params.get("offset", 0))

    def slot(value: float) -> int:
        return math.floor((value - offset) / interval)

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
        _Bucket(offset + s * interval + 0.0, groups.get(s, []), {}, {})
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
