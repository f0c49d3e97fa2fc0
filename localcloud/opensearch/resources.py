"""The OpenSearch Service domain, answered by the emulated OpenSearch, and its start-up.

Once the template is deployed, the emulated OpenSearch applies the domain's access policy and
fine-grained access control (`opensearch.access`), and the local cloud publishes the master
user as `OPENSEARCH_USER`/`OPENSEARCH_PASSWORD` for its own clients (the demo's accounting, the
tests), as a person would read it from the stack's master-user secret.

Differences from AWS:
- The domain's `DomainEndpoint` is the emulated OpenSearch's `http://127.0.0.1:<port>` (AWS
  returns a host name served over HTTPS); its instances, EBS and zone settings are not applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.registry import CloudContext, CloudService, ServerService
from localcloud.opensearch.access import (
    PASSWORD_VARIABLE,
    USER_VARIABLE,
    DomainAccess,
    secret_reference,
)
from localcloud.opensearch.server import ENDPOINT_VARIABLE, OpenSearchEmulator


def domain(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    endpoint = deploy.env.get(ENDPOINT_VARIABLE)
    if endpoint is None:
        return {"skip": "no emulated OpenSearch running"}
    domain = props.get("DomainName", name.lower()[:28])
    domain_arn = arn("es", f"domain/{domain}")
    deploy.record(_r, {**props, MASTER_PASSWORD: _master_password(deploy, props)})
    return {
        "ref": domain,
        "attributes": {"Arn": domain_arn, "DomainArn": domain_arn, "DomainEndpoint": endpoint},
    }


MASTER_PASSWORD = "_LocalMasterPassword"  # noqa: S105 - the key the resolved secret is kept under
DOMAIN = "AWS::OpenSearchService::Domain"


def _master_password(deploy: Deployer, props: dict[str, Any]) -> str | None:
    """The master user's password: the template's dynamic reference to the secret, resolved as
    CloudFormation does when it creates the domain."""
    security = props.get("AdvancedSecurityOptions") or {}
    value = (security.get("MasterUserOptions") or {}).get("MasterUserPassword")
    reference = secret_reference(value)
    if reference is None:
        return value if isinstance(value, str) else None
    secret_id, key = reference
    secret = deploy.clients("secretsmanager").get_secret_value(SecretId=secret_id)
    return str(json.loads(secret["SecretString"])[key]) if key else secret["SecretString"]


class OpenSearch(ServerService[OpenSearchEmulator]):
    """The emulated OpenSearch, keeping its data under `<state_dir>/opensearch`."""

    stopping = "the emulated OpenSearch"

    label = "emulated OpenSearch"
    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {DOMAIN: domain}

    def create(self, context: CloudContext) -> OpenSearchEmulator:
        return OpenSearchEmulator(
            context.port("opensearch"), data_dir=context.state_dir / "opensearch"
        )


class OpenSearchAccess(CloudService):
    """After the deployment: the domain's access rules applied by the emulated OpenSearch (before
    any function, custom resource or delivery stream calls it), and its master user published
    for the local cloud's own clients."""

    def start(self, context: CloudContext) -> None:
        domains = context.deployed.runtime.get(DOMAIN, {})
        if not domains:
            return
        (props,) = domains.values()
        access = DomainAccess.from_domain(props, props.get(MASTER_PASSWORD))
        server = context.service(OpenSearch).server
        assert server is not None
        server.access = access
        for user, password in access.internal_users.items():
            context.publish({USER_VARIABLE: user, PASSWORD_VARIABLE: password})
        rules = ["SigV4 required" if access.signed_only else "unsigned allowed"]
        rules.append("fine-grained access control" if access.fgac else "no FGAC")
        context.log(f"emulated OpenSearch access: {', '.join(rules)}")
