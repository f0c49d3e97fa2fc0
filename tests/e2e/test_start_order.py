"""The services that write to buckets start after the buckets' notifications are in place.

In AWS a bucket's notifications are part of the deployed stack, so every object written after
`cdk deploy` produces its event. Locally the notifications are SQS bridges the Lambda triggers
install; when the Firehose delivery workers started first, a restart after a crash delivered the
stream's backlog into raw/ before the compactor's notification existed, and those objects were
never counted or compacted (tests/e2e/test_crash.py, now and then).
"""

from __future__ import annotations

import os
from typing import ClassVar

import boto3
import pytest
from faults_support import fault_context, synthesized

from localcloud.cloud import SERVICES, STACK, LocalCloud
from localcloud.core.registry import CloudContext
from localcloud.firehose.resources import Firehose
from localcloud.lambda_.resources import BUCKET_NOTIFICATIONS

pytestmark = pytest.mark.e2e


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


def test_bucket_notifications_are_in_place_before_firehose_delivers(tmp_path_factory):
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context())
    services = tuple(NotificationsAtFirehoseStart if s is Firehose else s for s in SERVICES)
    saved = dict(os.environ)
    state = tmp_path_factory.mktemp("order") / "cloud"
    try:
        with LocalCloud(state, cdk_out, STACK, log=lambda _line: None, services=services):
            pass
    finally:
        os.environ.clear()
        os.environ.update(saved)
    seen = NotificationsAtFirehoseStart.seen
    assert seen, "the template has no bucket notifications"
    for bucket, queues in seen.items():
        events = [event for queue in queues for event in queue["Events"]]
        assert any(event.startswith("s3:ObjectCreated") for event in events), (
            f"{bucket} had no ObjectCreated notification when Firehose started: {queues}"
        )
