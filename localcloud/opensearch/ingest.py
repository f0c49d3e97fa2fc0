"""Ingest pipelines of the emulated OpenSearch: their definitions (`_ingest/pipeline`) and their
run on index requests, with the `set` processor and `{{field}}` template snippets.

A pipeline is validated when it is stored, as OpenSearch does: an unknown processor type is a 400
`parse_exception` "No processor type exists with name [<type>]" with `processor_type`; a missing
or unknown parameter is a 400 `parse_exception` naming it. `GET` answers 404 with `{}` when no
pipeline matches.

Which pipelines run (`Store.ingest`): the request's `pipeline` (bulk action metadata or URL
parameter), else the target index's `index.default_pipeline` (from the index, or, for an index
the write creates, from the matching index template), then `index.final_pipeline`; `_none` runs
none. A missing pipeline fails the document with "pipeline with id [<id>] does not exist".
The processors see the source and the metadata fields `_index` and `_id`, and may set them; the
document is then indexed under the `_index` and `_id` the pipeline left, so a `set` on `_id`
decides which document an `index` action overwrites and which id a `create` action may not find.

Template snippets: `{{name}}` and `{{a.b}}` take the document's (nested) field, `_index`, `_id`,
or `_source.<field>`; a missing or null field renders as nothing. As in OpenSearch's mustache
templates, `{{...}}` escapes a string for JSON and `{{{...}}}` or `{{&...}}` does not; numbers
render as Java prints them (`12`, `20.5`, `1.0E7`), booleans as `true`/`false`.

## Differences from AWS

- Processors: `set` only (`field`, `value`, `override`, `ignore_empty_value`, and the common
  `tag`, `description`, `ignore_failure`). The other processor types OpenSearch has are refused
  when the pipeline is stored, as not supported by the emulated OpenSearch; `if` conditions
  (Painless), `on_failure` handlers, `_simulate` and `_ingest/processor/grok` are not supported.
- Templates: no sections, inverted sections, partials or delimiter changes; no `_ingest.*`
  metadata; an array or object value in a snippet is refused (OpenSearch prints Java's
  `toString`). A `set` may write `_id`, `_index` (strings) and source fields (dotted paths
  create objects; array positions are not supported), not `_routing`, `_version` or the like.
- An `_index` changed by the default pipeline does not run the new index's default pipeline.
- Update actions (`update`, upserts) run no pipeline.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from localcloud.opensearch.errors import EMULATED, OpenSearchError, bad_request
from localcloud.opensearch.names import wildcard_match

NO_PIPELINE: Final = "_none"
# Processor types of OpenSearch 2.19 (ingest-common, ingest-geoip, ingest-user-agent and the
# bundled plugins' processors) that the emulation refuses as not supported rather than unknown.
OPENSEARCH_PROCESSORS: Final = frozenset(
    {
        "append", "bytes", "community_id", "convert", "copy", "csv", "date", "date_index_name",
        "dissect", "dot_expander", "drop", "fail", "fingerprint", "foreach", "geoip", "grok",
        "gsub", "html_strip", "ip2geo", "join", "json", "kv", "lowercase", "ml_inference",
        "pipeline", "remove", "remove_by_pattern", "rename", "script", "sort", "sparse_encoding",
        "split", "text_chunking", "text_embedding", "text_image_embedding", "trim", "uppercase",
        "urldecode", "user_agent",
    }
)  # fmt: skip
_PIPELINE_KEYS: Final = ("description", "version", "processors", "on_failure")
_COMMON_KEYS: Final = frozenset({"tag", "description", "ignore_failure", "if", "on_failure"})
_SET_KEYS: Final = frozenset({"field", "value", "override", "ignore_empty_value"})
_WRITABLE_METADATA: Final = frozenset({"_index", "_id"})
_OTHER_METADATA: Final = frozenset(
    {"_routing", "_version", "_version_type", "_if_seq_no", "_if_primary_term", "_type"}
)
_TAG = re.compile(
    r"\{\{\{\s*(?P<raw>[^{}]*?)\s*\}\}\}|\{\{(?P<sigil>[#^/!>=&]?)(?P<name>[^{}]*)\}\}"
)
_JAVA_TYPES: Final = {
    str: "java.lang.String",
    bool: "java.lang.Boolean",
    int: "java.lang.Integer",
    float: "java.lang.Double",
    list: "java.util.ArrayList",
    dict: "java.util.HashMap",
}


def _java_type(value: Any) -> str:
    return _JAVA_TYPES.get(type(value), type(value).__name__)


def _config_error(
    reason: str, processor: str | None = None, tag: str | None = None, prop: str | None = None
) -> OpenSearchError:
    """OpenSearch's configuration error: a parse_exception with the processor's metadata."""
    extra = {"processor_type": processor, "processor_tag": tag, "property_name": prop}
    return OpenSearchError(
        400,
        "parse_exception",
        f"[{prop}] {reason}" if prop else reason,
        **{k: v for k, v in extra.items() if v is not None},
    )


# ------------------------------------------------------------ templates


def _template_names(template: str, processor: str, tag: str | None, prop: str) -> list[str]:
    """The names a template snippet refers to; refuses what the emulation cannot render."""
    names = []
    for match in _TAG.finditer(template):
        sigil = match.group("sigil") or ""
        name = match.group("raw") if match.group("raw") is not None else match.group("name")
        name = name.strip()
        if sigil == "!":
            continue
        if sigil not in {"", "&"}:
            raise _config_error(
                f"mustache [{sigil}] tags are not supported by {EMULATED}", processor, tag, prop
            )
        if name.partition(".")[0] == "_ingest":
            raise _config_error(
                f"[{name}] (ingest metadata) is not supported by {EMULATED}", processor, tag, prop
            )
        names.append(name)
    return names


def _java_double(value: float) -> str:
    """A double as Java's Double.toString prints it (shortest digits, `E` outside 1e-3..1e7)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "e" not in text else format(Decimal(text), "f")
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    scale = exponent + len(digits) - 1
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{scale}"


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    raise bad_request(
        f"rendering the {'array' if isinstance(value, list) else 'object'} [{name}] in a "
        f"template is not supported by {EMULATED}"
    )


def _lookup(model: Mapping[str, Any], name: str) -> Any:
    node: Any = model
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def render(template: str, model: Mapping[str, Any]) -> str:
    """A template snippet with the model's values (see the module docstring)."""

    def substitute(match: re.Match[str]) -> str:
        sigil = match.group("sigil") or ""
        if sigil == "!":
            return ""
        raw = match.group("raw") is not None or sigil == "&"
        name = match.group("raw") if match.group("raw") is not None else match.group("name")
        name = name.strip()
        text = _text(_lookup(model, name), name)
        return text if raw else json.dumps(text, ensure_ascii=False)[1:-1]

    return _TAG.sub(substitute, template)


def _render_value(value: Any, model: Mapping[str, Any]) -> Any:
    """A `value` parameter: strings are templates, inside lists and objects too."""
    if isinstance(value, str):
        return render(value, model)
    if isinstance(value, list):
        return [_render_value(item, model) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, model) for key, item in value.items()}
    return value


# ------------------------------------------------------------ definitions


def _flag(
    config: dict[str, Any], key: str, default: bool, processor: str | None, tag: str | None
) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise _config_error(
            f"property isn't a boolean, but of type [{_java_type(value)}]", processor, tag, key
        )
    return value


def _check_field_path(field: str, tag: str | None) -> None:
    names = _template_names(field, "set", tag, "field")
    if names:
        return  # a templated field name is checked when it is rendered
    path = field.removeprefix("_source.")
    if path in _OTHER_METADATA or path.partition(".")[0] == "_ingest":
        raise _config_error(f"setting [{path}] is not supported by {EMULATED}", "set", tag, "field")


def _check_set(config: dict[str, Any], tag: str | None) -> None:
    unknown = sorted(set(config) - _SET_KEYS - _COMMON_KEYS)
    if unknown:
        raise _config_error(
            f"processor [set] doesn't support one or more provided configuration parameters "
            f"[{', '.join(unknown)}]",
            "set",
            tag,
        )
    for key in ("field", "value"):
        if config.get(key) is None:
            raise _config_error("required property is missing", "set", tag, key)
    if not isinstance(config["field"], str):
        raise _config_error(
            f"property isn't a string, but of type [{_java_type(config['field'])}]",
            "set",
            tag,
            "field",
        )
    _check_field_path(config["field"], tag)
    for key in ("override", "ignore_empty_value"):
        _flag(config, key, key == "override", "set", tag)

    def templates(value: Any) -> None:
        if isinstance(value, str):
            _template_names(value, "set", tag, "value")
        elif isinstance(value, list):
            for item in value:
                templates(item)
        elif isinstance(value, dict):
            for item in value.values():
                templates(item)

    templates(config["value"])


def _check_processor(entry: Any) -> None:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise _config_error("a processor must be an object with exactly one processor type")
    kind, config = next(iter(entry.items()))
    if not isinstance(config, dict):
        raise _config_error(f"property isn't a map, but of type [{_java_type(config)}]", kind)
    tag = config.get("tag") if isinstance(config.get("tag"), str) else None
    if kind != "set":
        if kind in OPENSEARCH_PROCESSORS:
            raise OpenSearchError(
                400,
                "illegal_argument_exception",
                f"the [{kind}] processor is not supported by {EMULATED}",
                processor_type=kind,
            )
        raise _config_error(f"No processor type exists with name [{kind}]", kind, tag)
    if "if" in config:
        raise _config_error(f"[if] conditions are not supported by {EMULATED}", kind, tag)
    if "on_failure" in config:
        raise _config_error(f"[on_failure] is not supported by {EMULATED}", kind, tag)
    _flag(config, "ignore_failure", False, kind, tag)
    _check_set(config, tag)


def check_pipeline(pipeline_id: str, body: Any) -> dict[str, Any]:
    """The pipeline as stored (a copy of the body), or OpenSearch's error for it."""
    if not isinstance(body, dict):
        raise OpenSearchError(400, "parse_exception", "request body is required")
    unknown = [key for key in body if key not in _PIPELINE_KEYS]
    if unknown:
        raise OpenSearchError(
            400,
            "parse_exception",
            f"pipeline [{pipeline_id}] doesn't support one or more provided configuration "
            f"parameters [{', '.join(unknown)}]",
        )
    if "description" in body and not isinstance(body["description"], str):
        raise _config_error(
            f"property isn't a string, but of type [{_java_type(body['description'])}]",
            prop="description",
        )
    if "version" in body and (
        isinstance(body["version"], bool) or not isinstance(body["version"], int)
    ):
        raise _config_error("property isn't an integer", prop="version")
    processors = body.get("processors")
    if processors is None:
        raise _config_error("required property is missing", prop="processors")
    if not isinstance(processors, list):
        raise _config_error(
            f"property isn't a list, but of type [{_java_type(processors)}]", prop="processors"
        )
    if body.get("on_failure") is not None:
        raise _config_error(f"[on_failure] is not supported by {EMULATED}", prop="on_failure")
    for entry in processors:
        _check_processor(entry)
    return copy.deepcopy(body)


def matching(pipelines: Mapping[str, Any], expression: str | None) -> list[str]:
    """Pipeline ids for `id`, `a,b` and wildcard expressions (all of them for None)."""
    if expression is None:
        return sorted(pipelines)
    patterns = [p for p in expression.split(",") if p]
    return sorted(n for n in pipelines if any(wildcard_match(p, n) for p in patterns))


# ------------------------------------------------------------ running


class IngestDocument:
    """An index request's document while pipelines run: target index, id and source.

    The processors change `source` in place: the caller hands over a source of its own (the
    bulk path's, parsed from the request line), which is dropped when a pipeline fails. (The
    copy it used to take was 14% of a bulk request under cProfile, `bench/bench_opensearch.py`.)"""

    def __init__(self, index: str, doc_id: str | None, source: dict[str, Any]) -> None:
        self.index = index
        self.doc_id = doc_id
        self.source = source

    def model(self) -> dict[str, Any]:
        return {**self.source, "_source": self.source, "_index": self.index, "_id": self.doc_id}

    def get(self, path: str) -> Any:
        if path == "_index":
            return self.index
        if path == "_id":
            return self.doc_id
        return _lookup(self.source, path.removeprefix("_source."))

    def set(self, path: str, value: Any) -> None:
        if path in _WRITABLE_METADATA:
            if not isinstance(value, str):
                raise bad_request(
                    f"[{path}] can be set only to a string by {EMULATED}, "
                    f"not to [{_java_type(value)}]"
                )
            if path == "_index":
                self.index = value
            else:
                self.doc_id = value
            return
        if path in _OTHER_METADATA or path.partition(".")[0] == "_ingest":
            raise bad_request(f"setting [{path}] is not supported by {EMULATED}")
        parts = path.removeprefix("_source.").split(".")
        node = self.source
        for number, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise bad_request(
                    f"cannot set [{parts[number + 1]}] with parent object of type "
                    f"[{_java_type(child)}] as part of path [{path}]"
                )
            node = child
        node[parts[-1]] = value


def _run_set(config: dict[str, Any], document: IngestDocument) -> None:
    model = document.model()
    path = render(config["field"], model)
    if not _flag(config, "override", True, "set", None) and document.get(path) is not None:
        return
    value = _render_value(config["value"], model)
    if _flag(config, "ignore_empty_value", False, "set", None) and value in ("", None):
        return
    document.set(path, value)


def run_pipeline(pipeline: dict[str, Any], document: IngestDocument) -> None:
    """Run every processor of a stored pipeline on the document, in order."""
    for entry in pipeline["processors"]:
        kind, config = next(iter(entry.items()))
        runner: Callable[[dict[str, Any], IngestDocument], None] = {"set": _run_set}[kind]
        try:
            runner(config, document)
        except OpenSearchError:
            if not _flag(config, "ignore_failure", False, kind, None):
                raise


def pipeline_missing(pipeline_id: str) -> OpenSearchError:
    return bad_request(f"pipeline with id [{pipeline_id}] does not exist")
