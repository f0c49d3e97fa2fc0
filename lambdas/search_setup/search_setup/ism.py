"""Index State Management: delete the rotated `<index>-*` indices a number of days after they
were created.

The policy's `ism_template` attaches it to every new index matching the pattern; indices that
existed before the policy are attached with `_plugins/_ism/add`. OpenSearch does not move indices
already managed by a policy to a new version of it: after a change of the retention, indices
created from then on follow the new one, older ones keep theirs (`_plugins/_ism/change_policy`
moves them by hand).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from search_setup.index_template import index_pattern
from search_setup.opensearch_api import OpenSearchError, request, with_retry


def policy_id(index_name: str) -> str:
    return f"{index_name}-retention"


def retention_policy(index_name: str, retention_days: int) -> dict[str, Any]:
    """The ISM policy: `hot` until the index is `retention_days` old, then `delete`."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, got {retention_days}")
    return {
        "policy": {
            "description": (
                f"Delete {index_pattern(index_name)} indices {retention_days} days after they "
                "were created (the readings stay in S3)"
            ),
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        {
                            "state_name": "delete",
                            "conditions": {"min_index_age": f"{retention_days}d"},
                        }
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [index_pattern(index_name)], "priority": 100}],
        }
    }


def install_policy(
    endpoint: str, auth: tuple[str, str], index_name: str, retention_days: int, deadline: float
) -> list[str]:
    """Create or update the policy (an update names the version it replaces, as ISM requires),
    then attach it to existing indices that have no policy yet. Returns the paths called."""
    path = f"/_plugins/_ism/policies/{policy_id(index_name)}"
    body = retention_policy(index_name, retention_days)

    def put() -> dict[str, Any]:
        try:
            current = request(endpoint, "GET", path, None, auth)
        except OpenSearchError as err:
            if err.status != 404:
                raise
            return request(endpoint, "PUT", path, body, auth)
        version = f"?if_seq_no={current['_seq_no']}&if_primary_term={current['_primary_term']}"
        return request(endpoint, "PUT", path + version, body, auth)

    with_retry(put, deadline)
    add = f"/_plugins/_ism/add/{quote(index_pattern(index_name))}"

    def attach() -> dict[str, Any]:
        try:
            return request(endpoint, "POST", add, {"policy_id": policy_id(index_name)}, auth)
        except OpenSearchError as err:
            if err.status == 404:  # no index matches yet
                return {"updated_indices": 0}
            raise

    with_retry(attach, deadline)
    return [path, add]
