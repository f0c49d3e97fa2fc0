"""`_bulk` of the emulated OpenSearch: NDJSON `index` and `create` actions (Firehose sends `index`).

As in OpenSearch, a request-level problem (no final newline, a malformed action line, a
missing index name) fails the whole request with a 400, while a problem with one document
(a value its mapped field cannot take, a `create` of an existing id, a failing or missing
ingest pipeline) fails only that item: the response has
`"errors": true` and the item carries its status and an `error` with `type` and `reason`.
Missing indices are created on first write, with the matching index template applied.

`index` and `create` actions run their ingest pipelines first (the action's `pipeline`, the
request's `?pipeline=`, or the index's default pipeline: `opensearch_ingest`); the document is
written under the `_index` and `_id` the pipelines leave, and the item reports those. A `create`
whose id then exists fails with 409 `version_conflict_engine_exception`; an `index` overwrites.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from localcloud.opensearch.errors import OpenSearchError, bad_request, not_supported
from localcloud.opensearch.store import Store, new_document_id

ACTIONS = ("index", "create")
_METADATA = {
    "_index",
    "_id",
    "routing",
    "_routing",
    "require_alias",
    "retry_on_conflict",
    "_source",
    "version",
    "version_type",
    "pipeline",
    "op_type",
}


@dataclass
class _Action:
    kind: str
    index: str
    doc_id: str | None
    meta: dict[str, Any]
    source_line: str | None


def _action_line(line: str, number: int) -> tuple[str, dict[str, Any]]:
    """(action, metadata) of one action line, or a 400 for the whole request."""
    try:
        action = json.loads(line)
    except json.JSONDecodeError as err:
        raise bad_request(f"Malformed action/metadata line [{number}]: {err.msg}") from err
    if not isinstance(action, dict) or len(action) != 1:
        raise bad_request(
            f"Malformed action/metadata line [{number}], expected START_OBJECT or END_OBJECT"
        )
    kind, meta = next(iter(action.items()))
    if kind not in ACTIONS:
        raise bad_request(
            f"Malformed action/metadata line [{number}], expected one of [create, index] "
            f"but found [{kind}] (update and delete are not supported by the emulated OpenSearch)"
        )
    if not isinstance(meta, dict):
        raise bad_request(f"Malformed action/metadata line [{number}], expected START_OBJECT")
    unknown = sorted(set(meta) - _METADATA)
    if unknown:
        raise bad_request(
            f"Action/metadata line [{number}] contains an unknown parameter [{unknown[0]}]"
        )
    pipeline = meta.get("pipeline")
    if isinstance(pipeline, dict | list):
        found = "START_OBJECT" if isinstance(pipeline, dict) else "START_ARRAY"
        raise bad_request(
            f"Malformed action/metadata line [{number}], expected a simple value for field "
            f"[pipeline] but found [{found}]"
        )
    if pipeline is not None:
        meta["pipeline"] = pipeline if isinstance(pipeline, str) else json.dumps(pipeline)
    if meta.get("version_type") not in {None, "internal"}:
        raise not_supported(f"version_type [{meta['version_type']}]")
    return kind, meta


def _parse(payload: str, default_index: str | None) -> list[_Action]:
    if payload and not payload.endswith("\n"):
        raise bad_request("The bulk request must be terminated by a newline [\\n]")
    lines = payload.split("\n")
    actions: list[_Action] = []
    missing_index = []
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if not line.strip():
            continue
        kind, meta = _action_line(line, number)
        index = meta.get("_index", default_index)
        if not index:
            missing_index.append(len(actions) + 1)
        if number >= len(lines) or not lines[number].strip():
            raise bad_request(f"The bulk request's action on line [{number}] has no source line")
        source_line = lines[number]
        number += 1
        doc_id = None if meta.get("_id") is None else str(meta["_id"])
        actions.append(_Action(kind, str(index or ""), doc_id, meta, source_line))
    if missing_index:
        reasons = "".join(f"{i}: index is missing;" for i in missing_index)
        raise bad_request(f"Validation Failed: {reasons}", "action_request_validation_exception")
    if not actions:
        raise bad_request(
            "Validation Failed: 1: no requests added;", "action_request_validation_exception"
        )
    return actions


def _source(action: _Action) -> Any:
    try:
        return json.loads(action.source_line or "")
    except json.JSONDecodeError as err:
        raise OpenSearchError(
            400,
            "mapper_parsing_exception",
            "failed to parse",
            caused_by={
                "type": "json_parse_exception",
                "reason": f"{err.msg} at column {err.colno}",
            },
        ) from err


def _run(store: Store, action: _Action, pipeline: str | None) -> tuple[int, dict[str, Any]]:
    source = _source(action)
    action.index, action.doc_id, source = store.ingest(
        action.index, action.doc_id, source, action.meta.get("pipeline", pipeline)
    )
    if action.doc_id is None:
        action.doc_id = new_document_id()
    return store.index_document(
        action.index,
        action.doc_id,
        source,
        op_type="create"
        if action.kind == "create" or action.meta.get("op_type") == "create"
        else "index",
    )


def bulk(
    store: Store, default_index: str | None, payload: bytes, pipeline: str | None = None
) -> dict[str, Any]:
    """The response of `POST [<index>]/_bulk[?pipeline=<id>]` for an NDJSON payload."""
    started = time.monotonic()
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request(f"the bulk body is not valid UTF-8: {err}") from err
    items = []
    errors = False
    for action in _parse(text, default_index):
        try:
            status, result = _run(store, action, pipeline)
            item = {**result, "status": status}
        except OpenSearchError as err:
            errors = True
            item = {
                "_index": action.index,
                "_id": action.doc_id,
                "status": err.status,
                "error": err.cause(),
            }
            if err.error_type == "version_conflict_engine_exception":
                item["error"] = {**item["error"], "index": action.index}
        items.append({action.kind: item})
    return {"took": int((time.monotonic() - started) * 1000), "errors": errors, "items": items}
