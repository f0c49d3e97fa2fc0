"""Mappings for the emulated OpenSearch: field types, dynamic mapping and document parsing.

A document is parsed into *indexed values*: a dict from the full field path (`device_id`,
`device_id.keyword`, `location.lat`) to the list of its values converted to the field's type:
`keyword`/`text` as `str`, `integer`/`long` as `int`, `float`/`double` as `float` (a `float`
rounded to the 32 bits OpenSearch stores), `date` as epoch milliseconds, `boolean` as `bool`.
`_source` stays untouched. These are the types the pipeline's template and dynamic mapping use;
another type (`short`, `half_float`, `scaled_float`, `date_nanos`, ...) is refused by name.

Dynamic mapping (an unmapped field in a document) follows OpenSearch's defaults: booleans ->
`boolean`, whole numbers -> `long`, other numbers -> `float`, strings that look like an ISO date
(`strict_date_optional_time`, with at least a full day `yyyy-MM-dd`) -> `date`, other strings ->
`text` with a `keyword` sub-field (`ignore_above` 256), objects -> `object`. `numeric_detection`
and `date_detection` are honoured; `dynamic` may be `true`, `false` (kept in `_source`, not
indexed) or `strict` (rejected). Dynamic templates and the `nested`, `geo_*`, `ip`, range and
`flat_object` types are not supported and are rejected when a mapping names them.
"""

from __future__ import annotations

import copy
import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from localcloud.opensearch.dates import DEFAULT_DATE_FORMAT, DateError, check_format, parse_date
from localcloud.opensearch.errors import OpenSearchError, not_supported

INTEGER_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
}
FLOAT_TYPES = {"float", "double"}
NUMERIC_TYPES = FLOAT_TYPES | set(INTEGER_RANGES)
FIELD_TYPES = NUMERIC_TYPES | {"keyword", "text", "date", "boolean", "object"}
# Parameters OpenSearch accepts that change nothing in this emulation (storage and scoring).
_INERT_PARAMS = {
    "index",
    "doc_values",
    "store",
    "norms",
    "similarity",
    "eager_global_ordinals",
    "boost",
    "index_options",
    "coerce",
    "null_value",
    "meta",
    "analyzer",
    "search_analyzer",
    "normalizer",
    "term_vector",
    "position_increment_gap",
    "locale",
    "index_phrases",
    "index_prefixes",
    "split_queries_on_whitespace",
}
_FIELD_PARAMS = _INERT_PARAMS | {
    "type",
    "fields",
    "format",
    "ignore_above",
    "ignore_malformed",
    "fielddata",
    "properties",
    "dynamic",
    "enabled",
}
_ROOT_PARAMS = {
    "properties",
    "dynamic",
    "date_detection",
    "numeric_detection",
    "dynamic_date_formats",
    "_meta",
    "_source",
    "_routing",
    "dynamic_templates",
}
DYNAMIC_STRING = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
_DYNAMIC_DATE = re.compile(r"[+-]?\d{4}-\d{2}-\d{2}(T.*)?")
_WORD = re.compile(r"\w+")
META_FIELDS = {"_id", "_index"}


def analyze(text: str) -> list[str]:
    """The tokens of text as the standard analyzer makes them: words, lower-cased."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class FieldSpec:
    """One mapped leaf field (or multi-field) with the parameters that change its values."""

    path: str
    type: str
    format: str = DEFAULT_DATE_FORMAT
    ignore_above: int | None = None
    ignore_malformed: bool = False
    fielddata: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def is_date(self) -> bool:
        return self.type == "date"

    def convert(self, value: Any) -> Any:
        """value as this field indexes it; raises ValueError (with a cause type) if it cannot."""
        if self.type in {"keyword", "text"}:
            if isinstance(value, dict | list):
                raise MalformedValue("illegal_state_exception", "Can't get text on a START_OBJECT")
            return _as_text(value)
        if self.is_date:
            return _as_date(value, self.format)
        if self.type == "boolean":
            return _as_boolean(value)
        if self.type in INTEGER_RANGES:
            return _as_integer(value, self.type)
        return _as_float(value, self.type)


class MalformedValue(ValueError):
    """A value a field cannot take, with the Java-style cause OpenSearch reports."""

    def __init__(self, cause_type: str, reason: str) -> None:
        super().__init__(reason)
        self.cause_type = cause_type
        self.reason = reason


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _as_date(value: Any, formats: str) -> int:
    if isinstance(value, bool | dict | list):
        raise MalformedValue("illegal_argument_exception", f"failed to parse date field [{value}]")
    try:
        return parse_date(value, formats)
    except DateError as err:
        raise MalformedValue("illegal_argument_exception", str(err)) from err


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in {"true", "false"}:
        return value == "true"
    if value == "":
        return False
    raise MalformedValue(
        "illegal_argument_exception",
        f"Failed to parse value [{value}] as only [true] or [false] are allowed.",
    )


def _number(value: Any) -> float | int:
    if isinstance(value, bool | dict | list):
        reason = f"Current token is not a number: {value}"
        raise MalformedValue("illegal_argument_exception", reason)
    if isinstance(value, int | float):
        number: float | int = value
    else:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError as err:
                reason = f'For input string: "{value}"'
                raise MalformedValue("number_format_exception", reason) from err
    if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
        raise MalformedValue("illegal_argument_exception", f"[{value}] is not a finite number")
    return number


def _as_integer(value: Any, type_name: str) -> int:
    number = _number(value)
    whole = int(number)  # coerce: OpenSearch truncates the fraction
    low, high = INTEGER_RANGES[type_name]
    if not low <= whole <= high:
        raise MalformedValue(
            "illegal_argument_exception", f"Value [{value}] is out of range for {type_name}"
        )
    return whole


def _as_float(value: Any, type_name: str) -> float:
    number = float(_number(value))
    if type_name != "float":
        return number
    try:
        return float(struct.unpack("f", struct.pack("f", number))[0])
    except (OverflowError, struct.error) as err:
        raise MalformedValue(
            "illegal_argument_exception", f"[{value}] is out of range for {type_name}"
        ) from err


# ---------------------------------------------------------------- mapping validation


def _check_properties(properties: Any, prefix: str) -> None:
    if not isinstance(properties, dict):
        raise OpenSearchError(
            400, "mapper_parsing_exception", f"properties of [{prefix or '_doc'}] must be an object"
        )
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if not isinstance(spec, dict):
            raise OpenSearchError(
                400,
                "mapper_parsing_exception",
                f"Expected map for property [{path}] but got a {type(spec).__name__}",
            )
        _check_field(spec, path)


def _check_field(spec: dict[str, Any], path: str) -> None:
    type_name = spec.get("type", "object")
    if type_name not in FIELD_TYPES:
        raise not_supported(f"the field type [{type_name}] of field [{path}]")
    unknown = set(spec) - _FIELD_PARAMS
    if unknown:
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            f"unknown parameter [{sorted(unknown)[0]}] on mapper [{path}] of type [{type_name}]",
        )
    if "format" in spec:
        try:
            check_format(str(spec["format"]))
        except DateError as err:
            raise OpenSearchError(
                400, "mapper_parsing_exception", f"Invalid format: [{spec['format']}]: {err}"
            ) from err
    if type_name == "object":
        _check_properties(spec.get("properties", {}), f"{path}.")
    elif "properties" in spec:
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            f"field [{path}] of type [{type_name}] cannot have properties",
        )
    for sub_name, sub in spec.get("fields", {}).items():
        if not isinstance(sub, dict) or sub.get("type", "object") == "object":
            raise OpenSearchError(
                400,
                "mapper_parsing_exception",
                f"multi-field [{path}.{sub_name}] needs a leaf type",
            )
        _check_field(sub, f"{path}.{sub_name}")


def check_mappings(body: Any) -> dict[str, Any]:
    """A validated copy of a `mappings` body (also accepts the legacy `{"_doc": {...}}` form)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise OpenSearchError(400, "mapper_parsing_exception", "mappings must be an object")
    if set(body) == {"_doc"} and isinstance(body["_doc"], dict):
        body = body["_doc"]
    unknown = set(body) - _ROOT_PARAMS
    if unknown:
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            f"Root mapping definition has unsupported parameters: {sorted(unknown)}",
        )
    if body.get("dynamic_templates"):
        raise not_supported("dynamic_templates")
    source = body.get("_source", {})
    if isinstance(source, dict) and source.get("enabled") is False:
        raise not_supported("a disabled _source")
    if body.get("dynamic", True) not in {True, False, "true", "false", "strict"}:
        raise OpenSearchError(
            400, "mapper_parsing_exception", f"unknown dynamic setting [{body['dynamic']}]"
        )
    _check_properties(body.get("properties", {}), "")
    return copy.deepcopy({k: v for k, v in body.items() if k != "dynamic_templates"})


def _dynamic_setting(value: Any) -> str:
    return str(value).lower() if value is not None else "true"


@dataclass
class ParsedDocument:
    fields: dict[str, list[Any]]
    mapping_changed: bool


@dataclass
class Mapping:
    """The mapping of one index: the JSON form plus a flat lookup of its leaf fields."""

    body: dict[str, Any] = field(default_factory=dict)
    _fields: dict[str, FieldSpec] = field(default_factory=dict, init=False, repr=False)
    _objects: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        self._fields = {}
        self._objects = set()
        self._collect(self.body.get("properties", {}), "")

    def _collect(self, properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if spec.get("type", "object") == "object":
                self._objects.add(path)
                self._collect(spec.get("properties", {}), f"{path}.")
                continue
            self._fields[path] = _spec(path, spec)
            for sub_name, sub in spec.get("fields", {}).items():
                self._fields[f"{path}.{sub_name}"] = _spec(f"{path}.{sub_name}", sub)

    def field(self, path: str) -> FieldSpec | None:
        """The leaf field at path (meta fields `_id` and `_index` are keywords)."""
        if path in META_FIELDS:
            return FieldSpec(path, "keyword")
        return self._fields.get(path)

    def parse(self, source: Any, doc_id: str) -> ParsedDocument:
        """Indexed values of a document; dynamic fields are added to this mapping on success."""
        if not isinstance(source, dict):
            raise OpenSearchError(
                400,
                "mapper_parsing_exception",
                "failed to parse, document is empty or not an object",
            )
        dynamic = _dynamic_setting(self.body.get("dynamic"))
        try:  # most documents add no field: read the mapping without copying it
            parser = _DocumentParser(self.body, doc_id, self._fields, mutable=False)
            parser.walk(source, self.body.get("properties", {}), "", dynamic)
            return ParsedDocument(parser.fields, False)
        except _NeedsNewField:
            pass
        properties = copy.deepcopy(self.body.get("properties", {}))
        parser = _DocumentParser(self.body, doc_id, {}, mutable=True)
        parser.walk(source, properties, "", dynamic)
        self.body = {**self.body, "properties": properties}
        self._rebuild()
        return ParsedDocument(parser.fields, True)


def _spec(path: str, spec: dict[str, Any]) -> FieldSpec:
    return FieldSpec(
        path=path,
        type=spec.get("type", "object"),
        format=str(spec.get("format", DEFAULT_DATE_FORMAT)),
        ignore_above=spec.get("ignore_above"),
        ignore_malformed=bool(spec.get("ignore_malformed", False)),
        fielddata=bool(spec.get("fielddata", False)),
    )


def _expand_dots(obj: dict[str, Any], doc_id: str) -> dict[str, Any]:
    """`{"a.b": 1}` as `{"a": {"b": 1}}`, the way OpenSearch reads dotted field names."""
    if not any("." in key for key in obj):
        return obj
    expanded: dict[str, Any] = {}
    for key, value in obj.items():
        parts = key.split(".")
        if any(part == "" for part in parts):
            raise OpenSearchError(
                400,
                "mapper_parsing_exception",
                f"failed to parse: field name [{key}] in document with id '{doc_id}' is not valid",
            )
        target = expanded
        for part in parts[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise OpenSearchError(
                    400,
                    "mapper_parsing_exception",
                    f"object mapping for [{part}] tried to parse field [{key}] as object, "
                    "but found a concrete value",
                )
            target = nxt
        last = parts[-1]
        if isinstance(target.get(last), dict) and isinstance(value, dict):
            target[last].update(value)
        else:
            target[last] = value
    return expanded


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 20 else text[:20] + "..."


class _NeedsNewField(Exception):
    """The document needs a dynamic field: parse it again on a copy of the mapping."""


class _DocumentParser:
    def __init__(
        self, root: dict[str, Any], doc_id: str, known: dict[str, FieldSpec], mutable: bool
    ) -> None:
        self.root = root
        self.doc_id = doc_id
        self.known = known  # leaf specs of the unchanged mapping, by path
        self.mutable = mutable
        self.fields: dict[str, list[Any]] = {}

    def walk(
        self, obj: dict[str, Any], properties: dict[str, Any], prefix: str, dynamic: str
    ) -> None:
        for key, value in _expand_dots(obj, self.doc_id).items():
            if key == "":
                raise OpenSearchError(
                    400, "mapper_parsing_exception", "field name cannot be an empty string"
                )
            path = f"{prefix}{key}"
            if (
                prefix == ""
                and key.startswith("_")
                and key in {"_id", "_index", "_source", "_version"}
            ):
                raise OpenSearchError(
                    400,
                    "mapper_parsing_exception",
                    f"Field [{key}] is a metadata field and cannot be added inside a document. "
                    "Use the index API request parameters.",
                )
            for item in _flatten(value):
                self._value(item, key, path, properties, dynamic)

    def _value(
        self, item: Any, key: str, path: str, properties: dict[str, Any], dynamic: str
    ) -> None:
        if item is None:
            return
        spec = properties.get(key)
        if spec is None:
            if dynamic == "false":
                return
            if dynamic == "strict":
                raise OpenSearchError(
                    400,
                    "strict_dynamic_mapping_exception",
                    f"mapping set to strict, dynamic introduction of [{key}] within "
                    f"[{path.rpartition('.')[0] or '_doc'}] is not allowed",
                )
            if not self.mutable:
                raise _NeedsNewField
            spec = self._dynamic_spec(item)
            properties[key] = spec
        if spec.get("type", "object") == "object":
            if spec.get("enabled", True) is False:
                return
            if not isinstance(item, dict):
                raise OpenSearchError(
                    400,
                    "mapper_parsing_exception",
                    f"object mapping for [{path}] tried to parse field [{key}] as object, "
                    "but found a concrete value",
                )
            child_dynamic = _dynamic_setting(spec["dynamic"]) if "dynamic" in spec else dynamic
            children = (
                spec.setdefault("properties", {}) if self.mutable else spec.get("properties", {})
            )
            self.walk(item, children, f"{path}.", child_dynamic)
            return
        self._leaf(item, path, spec)
        for sub_name, sub in spec.get("fields", {}).items():
            self._leaf(item, f"{path}.{sub_name}", sub)

    def _leaf(self, item: Any, path: str, spec: dict[str, Any]) -> None:
        leaf = None if self.mutable else self.known.get(path)
        if leaf is None:
            leaf = _spec(path, spec)
        try:
            value = leaf.convert(item)
        except MalformedValue as err:
            if leaf.ignore_malformed:
                return
            raise OpenSearchError(
                400,
                "mapper_parsing_exception",
                f"failed to parse field [{path}] of type [{leaf.type}] in document with id "
                f"'{self.doc_id}'. Preview of field's value: '{_preview(item)}'",
                caused_by={"type": err.cause_type, "reason": err.reason},
            ) from err
        if (
            leaf.ignore_above is not None
            and isinstance(value, str)
            and len(value) > leaf.ignore_above
        ):
            return
        self.fields.setdefault(path, []).append(value)

    def _dynamic_spec(self, item: Any) -> dict[str, Any]:
        if isinstance(item, dict):
            return {"properties": {}}
        if isinstance(item, bool):
            return {"type": "boolean"}
        if isinstance(item, int | float):
            return {"type": "long" if isinstance(item, int) else "float"}
        text = str(item)
        if self.root.get("numeric_detection") is True:
            detected = _detect_number(text)
            if detected:
                return detected
        if self.root.get("date_detection", True) is not False:
            detected = _detect_date(text, self.root.get("dynamic_date_formats"))
            if detected:
                return detected
        return copy.deepcopy(DYNAMIC_STRING)


def _detect_number(text: str) -> dict[str, Any] | None:
    for type_name, parse in (("long", int), ("float", float)):
        try:
            parse(text)
        except ValueError:
            continue
        return {"type": type_name}
    return None


def _detect_date(text: str, formats: list[str] | None) -> dict[str, Any] | None:
    if not formats:
        if not _DYNAMIC_DATE.fullmatch(text):
            return None
        formats = ["strict_date_optional_time"]
    for fmt in formats:
        try:
            parse_date(text, fmt)
        except DateError:
            continue
        return (
            {"type": "date"}
            if fmt == "strict_date_optional_time"
            else {"type": "date", "format": fmt}
        )
    return None


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [value]
