"""Who may call the domain: its access policy and fine-grained access control, as deployed.

Amazon OpenSearch Service checks a request twice (OpenSearch Service guide, "Identity and
Access Management" and "Fine-grained access control"):

1. The domain access policy. When it names IAM principals (roles, users, accounts) rather than
   `*`, every request must be signed with SigV4 ("Making and signing OpenSearch Service
   requests"); an unsigned one is refused with HTTP 403, `User: anonymous is not authorized to
   perform: es:ESHttp<Method> ...`.
2. Fine-grained access control (FGAC), when enabled: the request must authenticate, with HTTP
   basic auth as a user of the internal user database (the master user) or as the IAM
   principal of its signature; an unauthenticated one gets HTTP 401 `Unauthorized`.

The emulation applies both to a deployed domain. Differences from AWS: a SigV4 signature is not
verified and the IAM principal is not looked up, so a signed request passes FGAC without its
role mapping being checked; the access policy's actions, resources and conditions are not
evaluated beyond "does it let anonymous requests through".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

SIGV4 = "AWS4-HMAC-SHA256"
USER_VARIABLE = "OPENSEARCH_USER"  # the master user, for the local cloud's own clients
PASSWORD_VARIABLE = "OPENSEARCH_PASSWORD"  # noqa: S105 - a variable name
SECRET_REFERENCE = "{{resolve:secretsmanager:"  # noqa: S105 - a syntax prefix


@dataclass(frozen=True)
class Refusal:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DomainAccess:
    """The deployed domain's access rules."""

    signed_only: bool  # the access policy names IAM principals, not `*`
    fgac: bool
    internal_users: dict[str, str]  # name -> password (the master user)

    @classmethod
    def from_domain(cls, props: dict[str, Any], master_password: str | None) -> DomainAccess:
        """From the domain's resolved CloudFormation properties."""
        security = props.get("AdvancedSecurityOptions") or {}
        fgac = str(security.get("Enabled", "false")).lower() == "true"
        users: dict[str, str] = {}
        master = security.get("MasterUserOptions") or {}
        if fgac and master.get("MasterUserName") and master_password is not None:
            users[str(master["MasterUserName"])] = master_password
        return cls(_names_principals(props.get("AccessPolicies")), fgac, users)

    def refusal(self, method: str, authorization: str | None) -> Refusal | None:
        """Why a request with this `Authorization` header is refused, or None."""
        header = (authorization or "").strip()
        signed = header.startswith(SIGV4)
        if self.signed_only and not signed:
            message = (
                f"User: anonymous is not authorized to perform: es:ESHttp{method.title()} "
                "because no resource-based policy allows the action"
            )
            return Refusal(403, json.dumps({"Message": message}).encode())
        if not self.fgac or signed:
            return None
        user = _basic_user(header)
        if user is not None and self.internal_users.get(user[0]) == user[1]:
            return None
        return Refusal(
            401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'}
        )


def secret_reference(value: Any) -> tuple[str, str] | None:
    """`{{resolve:secretsmanager:<id>:SecretString:<key>::}}` as (secret id, json key)."""
    if not isinstance(value, str) or not value.startswith(SECRET_REFERENCE):
        return None
    inner = value[len(SECRET_REFERENCE) : -2]
    secret_id, _, rest = inner.partition(":SecretString:")
    return secret_id, rest.split(":", 1)[0]


def _names_principals(policy: Any) -> bool:
    """Whether no Allow statement of the access policy lets every principal (`*`) through."""
    if isinstance(policy, str):
        policy = json.loads(policy)
    statements = (policy or {}).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else principal
        if aws == "*" or (isinstance(aws, list) and "*" in aws):
            return False
    return bool(statements)


def _basic_user(header: str) -> tuple[str, str] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name, password


def basic_auth(env: dict[str, str] | Any) -> dict[str, str]:
    """The `Authorization` header of the master user the local cloud published in `env`
    (`OPENSEARCH_USER`, `OPENSEARCH_PASSWORD`), or no header when there is none."""
    user, password = env.get(USER_VARIABLE), env.get(PASSWORD_VARIABLE)
    if not user or password is None:
        return {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
