"""What the alerter tests look at: the SNS messages in the queue, the history objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from localcloud.core.aws import REGION

THRESHOLDS = {
    "default": {"humidity": {"warningHigh": 60, "criticalHigh": 65, "hysteresis": 1}},
    "devices": {"sensehat-02": {"humidity": {"warningHigh": 80, "criticalHigh": 90}}},
}


@dataclass
class AlertWorld:
    env: dict[str, str]
    queue_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def sns_messages(self) -> list[dict[str, Any]]:
        """Every message the topic delivered to the queue (drained)."""
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def history(self) -> dict[str, dict[str, Any]]:
        s3 = self.client("s3")
        listed = s3.list_objects_v2(Bucket=self.env["DATA_BUCKET"], Prefix="alerts/")
        return {
            item["Key"]: json.loads(
                s3.get_object(Bucket=self.env["DATA_BUCKET"], Key=item["Key"])["Body"].read()
            )
            for item in listed.get("Contents", [])
        }
