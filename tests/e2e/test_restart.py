"""A local cloud restarted on its state directory listens where the last one did, and its
buckets notify before anything delivers into them.

Devices and clients keep the endpoints they were given (`.localcloud/env`), so after `make down`
and `make up` (or `make up` after a crash) they reconnect by themselves.

In AWS a bucket's notifications are deployed with the bucket, so every object written after
`cdk deploy` produces its event. Locally they are SQS bridges the Lambda triggers install; when
the Firehose delivery workers started first, a restart after a crash delivered the stream's
backlog into raw/ before the compactor's notification existed, and those objects were never
counted or compacted (tests/e2e/test_crash.py, now and then).
"""

from __future__ import annotations

from typing import ClassVar

import boto3
import pytest
from faults_support import fault_context, local_cloud, synthesized

from localcloud.cloud import SERVICES
from localcloud.core.registry import CloudContext
from localcloud.firehose.resources import Firehose
from localcloud.lambda_.resources import BUCKET_NOTIFICATIONS

pytestmark = pytest.mark.e2e

ENDPOINTS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ATHENA",
    "AWS_ENDPOINT_URL_IOT_DATA_PLANE",
    "OPENSEARCH_URL",
    "MQTT_PORT",
)


class NotificationsAtFirehoseStart(Firehose):
    """Firehose, noting each notified bucket's queue configurations as it starts."""

    seen: ClassVar[dict[str, list[dict[str, object]]]] = {}

    def start(self, context: CloudContext) -> None:
        s3 = boto3.client("s3")
        for props in context.deployed.runtime[BUCKET_NOTIFICATIONS].values():
            bucket = props["BucketName"]
            configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
            self.seen[bucket] = configuration.get("QueueConfigurations", [])
        super().start(context)


PROBED = tuple(NotificationsAtFirehoseStart if s is Firehose else s for s in SERVICES)


def endpoints_of_a_run(state_dir, cdk_out, services=SERVICES) -> dict[str, str]:
    with local_cloud(state_dir, cdk_out, services) as cloud:
        cloud.start()
        env = cloud.env()
        return {name: env[name] for name in ENDPOINTS}


def test_a_restarted_local_cloud_keeps_its_endpoints_and_notifies_before_delivering(
    tmp_path_factory,
):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    state_dir = tmp_path_factory.mktemp("restart") / "cloud"
    first = endpoints_of_a_run(state_dir, cdk_out)
    second = endpoints_of_a_run(state_dir, cdk_out, PROBED)
    assert second == first
    assert (state_dir / "ports.json").exists()

    seen = NotificationsAtFirehoseStart.seen
    assert seen, "the template has no bucket notifications"
    for bucket, queues in seen.items():
        events = [event for queue in queues for event in queue["Events"]]
        assert any(event.startswith("s3:ObjectCreated") for event in events), (
            f"{bucket} had no ObjectCreated notification when Firehose started: {queues}"
        )
