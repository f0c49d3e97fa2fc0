"""The OpenSearch Service domain, answered by the emulated OpenSearch, and its start-up.

Differences from AWS:
- The domain's `DomainEndpoint` is the emulated OpenSearch's `http://127.0.0.1:<port>` (AWS
  returns a host name served over HTTPS); its settings (instances, EBS, access policies, fine
  grained access control) are not applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.registry import CloudContext, ServerService
from localcloud.opensearch.server import ENDPOINT_VARIABLE, OpenSearchEmulator


def domain(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    endpoint = deploy.env.get(ENDPOINT_VARIABLE)
    if endpoint is None:
        return {"skip": "no emulated OpenSearch running"}
    domain = props.get("DomainName", name.lower()[:28])
    domain_arn = arn("es", f"domain/{domain}")
    return {
        "ref": domain,
        "attributes": {"Arn": domain_arn, "DomainArn": domain_arn, "DomainEndpoint": endpoint},
    }


class OpenSearch(ServerService[OpenSearchEmulator]):
    """The emulated OpenSearch, keeping its data under `<state_dir>/opensearch`."""

    label = "emulated OpenSearch"
    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {
        "AWS::OpenSearchService::Domain": domain
    }

    def create(self, context: CloudContext) -> OpenSearchEmulator:
        return OpenSearchEmulator(
            context.port("opensearch"), data_dir=context.state_dir / "opensearch"
        )
