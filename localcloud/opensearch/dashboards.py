"""OpenSearch Dashboards' saved objects API, emulated under `/_dashboards/api/...` as on an
Amazon OpenSearch Service domain endpoint; the Dashboards application itself is not emulated.

- `POST /_dashboards/api/saved_objects/_import[?overwrite=true]`: a multipart/form-data upload
  whose `file` part is ndjson, one saved object per line (`type`, `id`, `attributes`,
  `references`); an export summary line (`exportedCount`) is skipped. As in Dashboards, an
  object whose id exists fails with a `conflict` error unless `overwrite=true`, an unknown type
  fails with `unsupported_type`, and an object referring to an `index-pattern` or `search` that
  is neither stored nor in the same file fails with `missing_references`. The response has
  `success`, `successCount`, `successResults` and, if any failed, `errors`.
- `GET /_dashboards/api/saved_objects/<type>/<id>`.
- `GET /_dashboards/api/saved_objects/_find?type=...&search=...&per_page=&page=`.
Writes need an `osd-xsrf` header, as in OpenSearch Dashboards (`kbn-xsrf` is refused).

Differences from AWS: saved objects are kept by the emulated cluster (with its data directory)
rather than in a `.kibana` index; there are no tenants, spaces or migrations; `createNewCopies`,
`_export` and `_bulk_*` are not supported; `search` matches title substrings only.
"""

from __future__ import annotations

import base64
import copy
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from localcloud.opensearch.dates import format_date

SAVED_OBJECT_TYPES = frozenset(
    {
        "config",
        "index-pattern",
        "visualization",
        "dashboard",
        "search",
        "query",
        "url",
        "augment-vis",
        "visualization-visbuilder",
    }
)
VALIDATED_REFERENCE_TYPES = ("index-pattern", "search")
_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}


class DashboardsError(Exception):
    """A failure in the Dashboards API's own shape: statusCode, error, message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "error": _REASONS.get(self.status, "Error"),
            "message": self.message,
        }


def require_xsrf(headers: dict[str, str]) -> None:
    if "osd-xsrf" not in headers:
        raise DashboardsError(400, "Request must contain a osd-xsrf header.")


def multipart_file(content_type: str, body: bytes) -> bytes:
    """The `file` part of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise DashboardsError(
            400, "the import must be a multipart/form-data upload with a [file] part"
        )
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise DashboardsError(
        400, "[request body.file]: expected value of type [Stream] but got [undefined]"
    )


def _ndjson_objects(payload: bytes) -> list[dict[str, Any]]:
    """The saved objects of an import file (the export summary line is left out)."""
    objects = []
    text = payload.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DashboardsError(
                400, f"line {number} of the import is not JSON: {err.msg}"
            ) from err
        if not isinstance(item, dict):
            raise DashboardsError(400, f"line {number} of the import is not a JSON object")
        if "exportedCount" in item and "type" not in item:
            continue
        objects.append(item)
    return objects


def _version(sequence: int) -> str:
    return base64.b64encode(json.dumps([sequence, 1]).encode()).decode()


class SavedObjects:
    """Saved objects by `type:id`, kept in the dict the store persists."""

    def __init__(self, objects: dict[str, dict[str, Any]], clock_ms: int) -> None:
        self.objects = objects
        self.clock_ms = clock_ms

    def _store(
        self, kind: str, object_id: str, attributes: dict[str, Any], references: list[Any]
    ) -> dict[str, Any]:
        stored = {
            "id": object_id,
            "type": kind,
            "attributes": copy.deepcopy(attributes),
            "references": copy.deepcopy(references),
            "updated_at": format_date(self.clock_ms),
            "version": _version(len(self.objects) + 1),
        }
        self.objects[f"{kind}:{object_id}"] = stored
        return stored

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        found = self.objects.get(f"{kind}:{object_id}")
        if found is None:
            raise DashboardsError(404, f"Saved object [{kind}/{object_id}] not found")
        return found

    def find(
        self, types: list[str], search: str | None, per_page: int, page: int
    ) -> dict[str, Any]:
        if not types:
            raise DashboardsError(
                400, "[request query.type]: expected at least one saved object type"
            )
        needle = (search or "").strip("*").lower()
        matches = [
            found
            for _, found in sorted(self.objects.items())
            if found["type"] in types
            and needle in str(found["attributes"].get("title", "")).lower()
        ]
        start = (page - 1) * per_page
        return {
            "page": page,
            "per_page": per_page,
            "total": len(matches),
            "saved_objects": matches[start : start + per_page],
        }

    def import_ndjson(self, payload: bytes, overwrite: bool) -> dict[str, Any]:
        candidates = _ndjson_objects(payload)
        errors: list[dict[str, Any]] = []
        accepted = []
        for item in candidates:
            error = self._check(item, overwrite)
            if error is None:
                accepted.append(item)
            else:
                errors.append(self._error(item, error))
        importing = {(i["type"], i["id"]) for i in accepted}
        results = []
        for item in accepted:
            missing = [
                {"type": ref.get("type"), "id": ref.get("id")}
                for ref in item.get("references", [])
                if ref.get("type") in VALIDATED_REFERENCE_TYPES
                and (ref.get("type"), ref.get("id")) not in importing
                and f"{ref.get('type')}:{ref.get('id')}" not in self.objects
            ]
            if missing:
                errors.append(
                    self._error(
                        item, {"type": "missing_references", "references": missing, "blocking": []}
                    )
                )
                continue
            existed = f"{item['type']}:{item['id']}" in self.objects
            self._store(item["type"], item["id"], item["attributes"], item.get("references", []))
            result: dict[str, Any] = {
                "type": item["type"],
                "id": item["id"],
                "meta": {"title": item["attributes"].get("title")},
            }
            if existed:
                result["overwrite"] = True
            results.append(result)
        response: dict[str, Any] = {"successCount": len(results), "success": not errors}
        if results:
            response["successResults"] = results
        if errors:
            response["errors"] = errors
        return response

    def _check(self, item: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
        if item.get("type") not in SAVED_OBJECT_TYPES:
            return {"type": "unsupported_type"}
        if not isinstance(item.get("id"), str) or not item["id"]:
            return {"type": "unknown", "message": "the saved object has no id", "statusCode": 400}
        if not isinstance(item.get("attributes"), dict):
            return {
                "type": "unknown",
                "message": "the saved object has no attributes",
                "statusCode": 400,
            }
        references = item.get("references", [])
        if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
            return {
                "type": "unknown",
                "message": "references must be a list of objects",
                "statusCode": 400,
            }
        if f"{item['type']}:{item['id']}" in self.objects and not overwrite:
            return {"type": "conflict"}
        return None

    @staticmethod
    def _error(item: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
        attributes = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
        return {
            "id": item.get("id"),
            "type": item.get("type"),
            "title": attributes.get("title"),
            "meta": {"title": attributes.get("title")},
            "error": error,
        }
