"""An AWS IoT policy document, translated into mosquitto ACL lines.

The local broker enforces what the template's IoT policy allows: `iot:Publish` on
`topic/<name>` becomes `pattern write <name>`, `iot:Subscribe` (`topicfilter/...`) and
`iot:Receive` (`topic/...`) become `pattern read`. The policy variable
`${iot:Connection.Thing.ThingName}` becomes `%u` (the broker takes the user name from the
client certificate's common name, which the local CA sets to the thing name) and
`${iot:ClientId}` becomes `%c`.

When the policy's `iot:Connect` carries the condition `iot:Connection.Thing.IsAttached: true`
(a certificate may act only when it is attached to a thing), the rules are written per thing of
the registry instead (`user <thing>` + `topic ...`), so a certificate whose name is not a thing
may do nothing at all.

Differences from AWS:
- `iot:Connect` is not translated into a connection check: mosquitto 2.0 cannot refuse a
  client certificate by its name (even its dynamic-security plugin lets an unknown certificate
  connect with no permissions, eclipse-mosquitto/mosquitto#2999). So a certificate that is not
  attached to a thing connects, but may publish, subscribe and receive nothing (PUBACK 0x87),
  where IoT Core refuses the connection. The client id is not tied to the certificate's name;
  the device uses its thing name as client id in both worlds.
- A `*` in a topic resource is translated only as a trailing multi-level wildcard (`#`).
- Deny statements and conditions are not supported; a policy using them is refused.
"""

from __future__ import annotations

import re
from typing import Any

VARIABLES = {"${iot:Connection.Thing.ThingName}": "%u", "${iot:ClientId}": "%c"}
_RESOURCE = re.compile(r"^arn:[^:]+:iot:[^:]*:[^:]*:(topic|topicfilter|client)/(.+)$")


class PolicyTranslationError(ValueError):
    """The policy uses something the local broker cannot enforce; the message names it."""


ATTACHED_ONLY = "iot:Connection.Thing.IsAttached"


def acl_from_policy(document: dict[str, Any], things: list[str] | None = None) -> list[str]:
    """The ACL lines of a policy; per thing of `things` when the policy connects attached
    certificates only."""
    lines = _pattern_lines(document)
    if things is None or not requires_attached_thing(document):
        return lines
    per_thing: list[str] = []
    for thing in things:
        per_thing.append(f"user {thing}")
        for line in lines:
            _, access, topic = line.split(" ", 2)
            if "%c" in topic:
                raise PolicyTranslationError(
                    f"${{iot:ClientId}} cannot be written per thing for the broker: {topic}"
                )
            per_thing.append(f"topic {access} {topic.replace('%u', thing)}")
    return per_thing


def requires_attached_thing(document: dict[str, Any]) -> bool:
    """Whether an `iot:Connect` statement requires `iot:Connection.Thing.IsAttached`."""
    for statement in _listify(document.get("Statement")):
        if "iot:Connect" not in _listify(statement.get("Action")):
            continue
        for operator, conditions in (statement.get("Condition") or {}).items():
            value = (conditions or {}).get(ATTACHED_ONLY)
            if operator == "Bool" and str(value).lower() == "true":
                return True
    return False


def _pattern_lines(document: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for statement in _listify(document.get("Statement")):
        if statement.get("Effect") != "Allow":
            raise PolicyTranslationError(f"only Allow statements are supported: {statement}")
        for action in _listify(statement.get("Action")):
            access = {"iot:Publish": "write", "iot:Subscribe": "read", "iot:Receive": "read"}.get(
                action
            )
            if action == "iot:Connect":
                continue
            if access is None:
                raise PolicyTranslationError(f"action {action} has no broker equivalent")
            for resource in _listify(statement.get("Resource")):
                line = f"pattern {access} {_topic(resource)}"
                if line not in lines:
                    lines.append(line)
    return lines


def _topic(resource: str) -> str:
    match = _RESOURCE.match(resource)
    if match is None:
        raise PolicyTranslationError(f"not an IoT topic resource: {resource}")
    topic = match.group(2)
    for variable, placeholder in VARIABLES.items():
        topic = topic.replace(variable, placeholder)
    if "${" in topic:
        raise PolicyTranslationError(f"unsupported policy variable in {resource}")
    if "*" in topic:
        if not topic.endswith("/*") or topic.count("*") > 1:
            raise PolicyTranslationError(f"only a trailing /* wildcard is supported: {resource}")
        topic = topic[:-1] + "#"
    return topic


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
