"""Set up a fresh domain: the writer role, its mapping to the Firehose role, the index template."""

from __future__ import annotations

from typing import Any

from search_setup.index_template import WRITER_ROLE, index_template, writer_role
from search_setup.opensearch_api import request_with_retry


def install(
    endpoint: str,
    auth: tuple[str, str],
    index_name: str,
    writer_role_arns: list[str],
    deadline: float,
) -> list[str]:
    """Idempotent: PUT replaces. Returns what was installed, for the custom resource's data."""
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"/_plugins/_security/api/roles/{WRITER_ROLE}", writer_role(index_name)),
        (
            "PUT",
            f"/_plugins/_security/api/rolesmapping/{WRITER_ROLE}",
            {"backend_roles": writer_role_arns},
        ),
        ("PUT", f"/_index_template/{index_name}", index_template(index_name)),
    ]
    for method, path, body in calls:
        request_with_retry(endpoint, method, path, body, auth, deadline)
    return [path for _, path, _ in calls]
