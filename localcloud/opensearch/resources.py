"""The OpenSearch Service domain, answered by the emulated OpenSearch, and its start-up.

Differences from AWS:
- The domain's `DomainEndpoint` is the emulated OpenSearch's `http://127.0.0.1:<port>` (AWS
  returns a host name served over HTTPS); its settings (instances, EBS, access policies, fine
  grained access control) are not applied.
"""

from __future__ import annotations

from typing import Any, Final

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.registry import CloudContext, CloudService
from localcloud.opensearch.server import OpenSearchEmulator

ENDPOINT_VARIABLE: Final = "OPENSEARCH_URL"


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


RESOURCE_TYPES: dict[str, ResourceHandler] = {"AWS::OpenSearchService::Domain": domain}


class OpenSearch(CloudService):
    """The emulated OpenSearch, keeping its data under `<state_dir>/opensearch`."""

    resource_types = RESOURCE_TYPES

    def __init__(self) -> None:
        self.emulator: OpenSearchEmulator | None = None

    @property
    def endpoint(self) -> str:
        if self.emulator is None:
            raise RuntimeError("the emulated OpenSearch is not running")
        return self.emulator.endpoint

    def start(self, context: CloudContext) -> None:
        self.emulator = OpenSearchEmulator(data_dir=context.state_dir / "opensearch").start()
        context.publish({ENDPOINT_VARIABLE: self.emulator.endpoint})
        context.log(f"emulated OpenSearch {self.emulator.endpoint}")

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
