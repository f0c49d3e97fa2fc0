"""Set up a fresh domain: the writer role and its mapping to the Firehose role, the document id
pipeline, the index template, the ISM retention policy, and the Dashboards saved objects."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from search_setup.dashboards import IMPORT_PATH, for_index, import_saved_objects
from search_setup.document_id import document_id_pipeline, pipeline_id
from search_setup.index_template import WRITER_ROLE, index_pattern, index_template, writer_role
from search_setup.ism import install_policy
from search_setup.opensearch_api import OpenSearchError, request, with_retry


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
        # before the template that names it as the indices' default pipeline
        ("PUT", f"/_ingest/pipeline/{pipeline_id(index_name)}", document_id_pipeline()),
        ("PUT", f"/_index_template/{index_name}", index_template(index_name)),
    ]
    for method, path, body in calls:
        with_retry(partial(request, endpoint, method, path, body, auth), deadline)
    installed = [path for _, path, _ in calls]
    installed.append(pipeline_for_existing_indices(endpoint, auth, index_name, deadline))
    if retention_days is not None:
        installed += install_policy(endpoint, auth, index_name, retention_days, deadline)
    if saved_objects:
        import_saved_objects(endpoint, auth, for_index(saved_objects, index_name), deadline)
        installed.append(IMPORT_PATH.split("?")[0])
    return installed


def pipeline_for_existing_indices(
    endpoint: str, auth: tuple[str, str], index_name: str, deadline: float
) -> str:
    """The template gives the document id pipeline to indices created from now on; the rotated
    indices that already exist (the current hour's) get it as a setting. Returns the path."""
    path = f"/{quote(index_pattern(index_name))}/_settings"
    body = {"index": {"default_pipeline": pipeline_id(index_name)}}

    def put() -> dict[str, Any]:
        try:
            return request(endpoint, "PUT", path, body, auth)
        except OpenSearchError as err:
            if err.status == 404:  # no index matches yet
                return {"acknowledged": True}
            raise

    with_retry(put, deadline)
    return path
