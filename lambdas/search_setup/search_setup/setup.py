"""Set up a fresh domain: the writer role and its mapping to the Firehose role, the index
template, the ISM retention policy, and the Dashboards saved objects."""

from __future__ import annotations

from typing import Any

from search_setup.dashboards import IMPORT_PATH, for_index, import_saved_objects
from search_setup.index_template import WRITER_ROLE, index_template, writer_role
from search_setup.ism import install_policy
from search_setup.opensearch_api import request_with_retry


def install(
    endpoint: str,
    auth: tuple[str, str],
    index_name: str,
    writer_role_arns: list[str],
    deadline: float,
    retention_days: int | None = None,
    saved_objects: str | None = None,
) -> list[str]:
    """Idempotent: PUT replaces, the policy is updated in place, the import overwrites.
    Returns what was installed, for the custom resource's data."""
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
    installed = [path for _, path, _ in calls]
    if retention_days is not None:
        installed += install_policy(endpoint, auth, index_name, retention_days, deadline)
    if saved_objects:
        import_saved_objects(endpoint, auth, for_index(saved_objects, index_name), deadline)
        installed.append(IMPORT_PATH.split("?")[0])
    return installed
