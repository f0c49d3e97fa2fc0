"""An AWS IoT policy document, translated into mosquitto ACL lines.

The local broker enforces what the template's IoT policy allows: `iot:Publish` on
`topic/<name>` becomes `pattern write <name>`, `iot:Subscribe` (`topicfilter/...`) and
`iot:Receive` (`topic/...`) become `pattern read`. The policy variable
`${iot:Connection.Thing.ThingName}` becomes `%u` (the broker takes the user name from the
client certificate's common name, which the local CA sets to the thing name) and
`${iot:ClientId}` becomes `%c`.

Differences from AWS:
- `iot:Connect` is not translated: mosquitto cannot require the client id to equal the
  certificate's name. The device uses its thing name as client id in both worlds.
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


def acl_from_policy(document: dict[str, Any]) -> list[str]:
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
