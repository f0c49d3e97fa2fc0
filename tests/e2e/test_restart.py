"""A local cloud restarted on its state directory listens where the last one did.

Devices and clients keep the endpoints they were given (`.localcloud/env`), so after `make down`
and `make up` (or `make up` after a crash) they reconnect by themselves.
"""

from __future__ import annotations

import pytest
from faults_support import fault_context, local_cloud, synthesized

pytestmark = pytest.mark.e2e

ENDPOINTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ATHENA",
    "AWS_ENDPOINT_URL_IOT_DATA_PLANE",
    "OPENSEARCH_URL",
    "MQTT_PORT",
)


def endpoints_of_a_run(state_dir, cdk_out) -> dict[str, str]:
    with local_cloud(state_dir, cdk_out) as cloud:
        cloud.start()
        env = cloud.env()
        return {name: env[name] for name in ENDPOINTS}


def test_a_restarted_local_cloud_keeps_its_endpoints(tmp_path_factory):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    state_dir = tmp_path_factory.mktemp("restart") / "cloud"
    first = endpoints_of_a_run(state_dir, cdk_out)
    second = endpoints_of_a_run(state_dir, cdk_out)
    assert second == first
    assert (state_dir / "ports.json").exists()
