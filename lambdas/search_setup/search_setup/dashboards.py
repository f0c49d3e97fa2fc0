"""OpenSearch Dashboards saved objects (index pattern, visualizations, dashboard), imported
through the Dashboards saved objects API of the domain.

The ndjson comes from `dashboards/opensearch/saved-objects.ndjson` in the repository: the CDK app
reads it at synth time and passes it as a property of the set-up custom resource, so a change to
it updates the resource and re-imports the objects. Its index pattern is written for the default
index name; `for_index` points it at the stack's `<index>-*`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from search_setup.index_template import index_pattern
from search_setup.opensearch_api import send, with_retry

IMPORT_PATH = "/_dashboards/api/saved_objects/_import?overwrite=true"
# With fine-grained access control, Dashboards keeps saved objects per tenant; the global
# tenant is the one every user sees.
TENANT = "global"


class SavedObjectsRefused(RuntimeError):
    """Dashboards refused some of the saved objects; the message lists them with the reason."""


def parse(ndjson: str) -> list[dict[str, Any]]:
    """The saved objects of an ndjson export, one per non-empty line."""
    objects = []
    for number, line in enumerate(ndjson.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"saved objects line {number} is not JSON: {err.msg}") from err
        if not isinstance(item, dict) or "type" not in item or "id" not in item:
            raise ValueError(f"saved objects line {number} is not a saved object")
        objects.append(item)
    return objects


def for_index(ndjson: str, index_name: str) -> str:
    """The ndjson with every index pattern's title set to the stack's `<index>-*`."""
    objects = parse(ndjson)
    for item in objects:
        if item["type"] == "index-pattern":
            item["attributes"]["title"] = index_pattern(index_name)
    return "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in objects)


def multipart(ndjson: str) -> tuple[bytes, str]:
    """A multipart/form-data body with the ndjson as its `file` part, and its content type."""
    boundary = f"----sensor-pipeline-{uuid.uuid4().hex}"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="saved-objects.ndjson"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
        f"{ndjson}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


def import_saved_objects(
    endpoint: str, auth: tuple[str, str], ndjson: str, deadline: float
) -> dict[str, Any]:
    """Import (overwriting objects with the same ids); raise if any object was refused."""
    body, content_type = multipart(ndjson)
    headers = {"Content-Type": content_type, "osd-xsrf": "true", "securitytenant": TENANT}
    answer = with_retry(lambda: send(endpoint, "POST", IMPORT_PATH, auth, body, headers), deadline)
    if not answer.get("success"):
        refused = [
            f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
            for e in answer.get("errors", [])
        ]
        raise SavedObjectsRefused(f"Dashboards refused saved objects: {'; '.join(refused)}")
    return answer
