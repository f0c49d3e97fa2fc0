"""A local cloud restarted on its state directory listens where the last one did.

Devices and clients keep the endpoints they were given (`.localcloud/env`), so after `make down`
and `make up` (or `make up` after a crash) they reconnect by themselves.
"""

from __future__ import annotations

import os

import pytest
from faults_support import STACK, fault_context, say, synthesized

from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.e2e

ENDPOINTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ATHENA",
    "AWS_ENDPOINT_URL_IOT_DATA_PLANE",
    "OPENSEARCH_URL",
    "MQTT_PORT",
)


def endpoints_of_a_run(state_dir, cdk_out) -> dict[str, str]:
    saved = dict(os.environ)
    cloud = LocalCloud(state_dir, cdk_out, STACK, log=say)
    try:
        cloud.start()
        env = cloud.env()
        return {name: env[name] for name in ENDPOINTS}
    finally:
        cloud.stop()
        os.environ.clear()
        os.environ.update(saved)


def test_a_restarted_local_cloud_keeps_its_endpoints(tmp_path_factory):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    state_dir = tmp_path_factory.mktemp("restart") / "cloud"
    first = endpoints_of_a_run(state_dir, cdk_out)
    second = endpoints_of_a_run(state_dir, cdk_out)
    assert second == first
    assert (state_dir / "ports.json").exists()
