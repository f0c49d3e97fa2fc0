"""The plugin APIs of the emulated OpenSearch: Index State Management and security roles mapping.

ISM: policies are validated (default state and transition targets must exist) and stored with
OpenSearch's sequence numbers; an update needs `if_seq_no` and `if_primary_term`, as in
OpenSearch. A policy's `ism_template` attaches it to indices created later whose names match.
`run_ism` advances managed indices: a state's `delete` action deletes the index; transition
conditions `min_index_age`, `min_doc_count` and `min_size` are evaluated (`min_size` against the
emulation's store size); every other action and condition is recorded in the index's explain
info as not run by the emulation. Unlike OpenSearch, which takes one step per job run (every 5
minutes on Amazon OpenSearch Service), one `run_ism` call goes as far as the policy allows.

Security: roles mappings are stored and returned; nothing is ever authorised against them.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from localcloud.opensearch.errors import EMULATED, OpenSearchError, bad_request
from localcloud.opensearch.names import wildcard_match

_TIME_UNITS = {
    "nanos": 1e-6,
    "micros": 1e-3,
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_CONDITIONS = {
    "min_index_age",
    "min_doc_count",
    "min_size",
    "min_rollover_age",
    "min_primary_shard_size",
}


def parse_time_value(text: Any, setting: str) -> int:
    """An OpenSearch time value such as `7d`, `12h`, `30m` as milliseconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)", str(text).strip())
    if not match:
        raise bad_request(
            f"failed to parse setting [{setting}] with value [{text}] as a time value"
        )
    return int(float(match.group(1)) * _TIME_UNITS[match.group(2)])


def parse_byte_size(text: Any, setting: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(b|kb|mb|gb|tb|pb)", str(text).strip().lower())
    if not match:
        raise bad_request(
            f"failed to parse setting [{setting}] with value [{text}] as a size in bytes"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


# ---------------------------------------------------------------- ISM policies


def _templates(policy: dict[str, Any]) -> list[dict[str, Any]]:
    templates = policy.get("ism_template")
    if templates is None:
        return []
    return templates if isinstance(templates, list) else [templates]


def check_policy(policy_id: str, body: Any, now_ms: int) -> dict[str, Any]:
    """The stored form of a `PUT _plugins/_ism/policies/<id>` body, or a 400 error."""
    if not isinstance(body, dict) or not isinstance(body.get("policy"), dict):
        raise bad_request("the request body must be an object with a [policy] object")
    policy = copy.deepcopy(body["policy"])
    states = policy.get("states")
    if not isinstance(states, list) or not states:
        raise bad_request(f"policy [{policy_id}] must have at least one state")
    names = [state.get("name") for state in states if isinstance(state, dict)]
    if len(names) != len(states) or not all(isinstance(name, str) and name for name in names):
        raise bad_request(f"every state of policy [{policy_id}] needs a name")
    if len(set(names)) != len(names):
        raise bad_request(f"policy [{policy_id}] has duplicate state names")
    if policy.get("default_state") not in names:
        raise bad_request(
            f"Policy default state [{policy.get('default_state')}] does not exist in the states"
        )
    for state in states:
        for transition in state.get("transitions", []):
            _check_transition(state["name"], transition, names)
    for template in _templates(policy):
        patterns = template.get("index_patterns")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise bad_request("ism_template.index_patterns must be a list of strings")
        template.setdefault("priority", 0)
        template["last_updated_time"] = now_ms
    policy.update(
        {
            "policy_id": policy_id,
            "last_updated_time": now_ms,
            "schema_version": policy.get("schema_version", 1),
            "error_notification": policy.get("error_notification"),
            "ism_template": policy.get("ism_template"),
        }
    )
    return policy


def _check_transition(state: str, transition: dict[str, Any], names: list[str]) -> None:
    if transition.get("state_name") not in names:
        raise bad_request(
            f"State [{state}] has a transition to [{transition.get('state_name')}] "
            "which does not exist"
        )
    conditions = transition.get("conditions", {})
    unknown = set(conditions) - _CONDITIONS - {"cron"}
    if unknown:
        raise bad_request(f"unknown transition condition {sorted(unknown)}")
    if "min_index_age" in conditions:
        parse_time_value(conditions["min_index_age"], "min_index_age")
    if "min_size" in conditions:
        parse_byte_size(conditions["min_size"], "min_size")


def policy_for_index(
    policies: dict[str, dict[str, Any]], index_name: str, created_ms: int
) -> str | None:
    """The policy whose ism_template matches a new index (highest priority wins), if any."""
    best: tuple[int, str] | None = None
    for policy_id, stored in policies.items():
        for template in _templates(stored["policy"]):
            if template.get("last_updated_time", 0) > created_ms:
                continue
            if any(wildcard_match(p, index_name) for p in template["index_patterns"]):
                priority = int(template.get("priority", 0))
                if best is None or priority > best[0]:
                    best = (priority, policy_id)
    return None if best is None else best[1]


@dataclass(frozen=True)
class IndexFacts:
    """What transition conditions look at."""

    created_ms: int
    doc_count: int
    size_bytes: int


def _condition_met(name: str, value: Any, facts: IndexFacts, now_ms: int) -> bool | None:
    """True/False for the conditions the emulation evaluates, None for the others."""
    if name == "min_index_age":
        return now_ms - facts.created_ms >= parse_time_value(value, name)
    if name == "min_doc_count":
        return facts.doc_count >= int(value)
    if name == "min_size":
        return facts.size_bytes >= parse_byte_size(value, name)
    return None


def advance(
    managed: dict[str, Any], policy: dict[str, Any], facts: IndexFacts, now_ms: int
) -> tuple[dict[str, Any], bool]:
    """Run a managed index's policy as far as it goes: (new managed state, delete the index)."""
    managed = copy.deepcopy(managed)
    states = {state["name"]: state for state in policy["states"]}
    skipped: list[str] = []
    for _ in range(len(states) + 1):
        if managed.get("state") is None:
            managed["state"] = {"name": policy["default_state"], "start_time": now_ms}
        state = states.get(managed["state"]["name"])
        if state is None:
            managed["info"] = {
                "message": f"state [{managed['state']['name']}] no longer in the policy"
            }
            return managed, False
        for action in state.get("actions", []):
            kind = next((key for key in action if key not in {"timeout", "retry"}), "unknown")
            if kind == "delete":
                return managed, True
            skipped.append(kind)
        target = _next_state(state, facts, now_ms, skipped)
        if target is None:
            break
        managed["state"] = {"name": target, "start_time": now_ms}
    managed["info"] = {
        "message": "Transitioning"
        if not skipped
        else f"actions {sorted(set(skipped))} are not run by {EMULATED}"
    }
    return managed, False


def _next_state(
    state: dict[str, Any], facts: IndexFacts, now_ms: int, skipped: list[str]
) -> str | None:
    for transition in state.get("transitions", []):
        results = []
        for name, value in transition.get("conditions", {}).items():
            met = _condition_met(name, value, facts, now_ms)
            if met is None:
                skipped.append(f"condition {name}")
                met = False
            results.append(met)
        if all(results):
            return str(transition["state_name"])
    return None


# ---------------------------------------------------------------- security roles mapping

_ROLE_MAPPING_KEYS = {"backend_roles", "and_backend_roles", "hosts", "users", "description"}
_ROLE_KEYS = {"cluster_permissions", "index_permissions", "tenant_permissions", "description"}


def _security_body(body: Any, keys: set[str]) -> dict[str, Any]:
    """The body as an object of known keys; a 400 in the security plugin's own shape if not."""
    if not isinstance(body, dict):
        raise OpenSearchError(400, "status_exception", "Request body required for this action.")
    unknown = set(body) - keys
    if unknown:
        raise OpenSearchError(
            400, "status_exception", f"Invalid configuration: unknown keys {sorted(unknown)}"
        )
    return body


def check_role_mapping(role: str, body: Any) -> dict[str, Any]:
    """The stored form of a roles mapping; a 400 in the security plugin's own shape if invalid."""
    body = _security_body(body, _ROLE_MAPPING_KEYS)
    mapping: dict[str, Any] = {"hosts": [], "users": [], "reserved": False, "hidden": False}
    for key in ("backend_roles", "and_backend_roles", "hosts", "users"):
        values = body.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise OpenSearchError(
                400, "status_exception", f"Invalid configuration: [{key}] must be a list of strings"
            )
        mapping[key] = list(values)
    if "description" in body:
        mapping["description"] = str(body["description"])
    return mapping


def check_role(role: str, body: Any) -> dict[str, Any]:
    """The stored form of a security role (cluster, index and tenant permissions)."""
    body = _security_body(body, _ROLE_KEYS)
    for key in ("cluster_permissions", "index_permissions", "tenant_permissions"):
        if not isinstance(body.get(key, []), list):
            raise OpenSearchError(
                400, "status_exception", f"Invalid configuration: [{key}] must be a list"
            )
    for permission in body.get("index_permissions", []):
        if not isinstance(permission, dict) or not isinstance(
            permission.get("index_patterns"), list
        ):
            raise OpenSearchError(
                400,
                "status_exception",
                f"Invalid configuration: role {role}: each index_permissions entry needs "
                "index_patterns",
            )
    return {"reserved": False, "hidden": False, "static": False, **body}
