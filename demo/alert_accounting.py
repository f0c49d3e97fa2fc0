"""Accounting for threshold alerts: the history in S3, what the alert topic delivered, and what
the device last received.

`AlertInbox` subscribes an SQS queue to the alert topic: locally it stands in for the e-mail
subscription (moto keeps an e-mail subscription pending and sends nothing). Used by `make demo`'s
ALERTS line and the end-to-end tests.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3

from demo.accounting import json_lines
from localcloud.iot.ca import DeviceCredentials

RETAINED_WAIT_SECONDS = 5


@dataclass(frozen=True)
class AlertTally:
    history: int  # alert objects under alerts/
    transitions: dict[str, int]  # raised, lowered, recovered
    levels: dict[str, int]  # alerts into warning / critical (raised or lowered)
    metrics: dict[str, int]  # alerts (not recoveries) per metric
    notified: int  # messages the alert topic delivered to the inbox
    device_level: str  # what the device shows now

    def line(self) -> str:
        transitions = " ".join(f"{k}={v}" for k, v in sorted(self.transitions.items()))
        levels = " ".join(f"{k}={v}" for k, v in sorted(self.levels.items()))
        metrics = ",".join(f"{k}:{v}" for k, v in sorted(self.metrics.items())) or "none"
        return (
            f"ALERTS history={self.history} {transitions} {levels} metrics={metrics} "
            f"notified={self.notified} device_level={self.device_level}"
        ).replace("  ", " ")


def alert_history(bucket: str, prefix: str = "alerts/") -> list[dict[str, Any]]:
    """Every alert in the history, in (device, seq, metric) order."""
    alerts = json_lines(bucket, prefix)
    return sorted(alerts, key=lambda a: (a["device_id"], a["seq"], a["metric"]))


def tally(alerts: list[dict[str, Any]], notified: int, device_level: str) -> AlertTally:
    raised = [a for a in alerts if a["transition"] != "recovered"]
    return AlertTally(
        history=len(alerts),
        transitions={
            kind: sum(1 for a in alerts if a["transition"] == kind)
            for kind in ("raised", "lowered", "recovered")
        },
        levels={
            level: sum(1 for a in raised if a["level"] == level)
            for level in ("warning", "critical")
        },
        metrics=dict(Counter(a["metric"] for a in raised)),
        notified=notified,
        device_level=device_level,
    )


@dataclass
class AlertInbox:
    """An SQS queue subscribed to the alert topic; `drain()` collects what arrived."""

    topic_arn: str
    name: str = "alert-inbox"
    messages: list[dict[str, Any]] = field(default_factory=list)
    queue_url: str = ""

    def subscribe(self) -> AlertInbox:
        sqs = boto3.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        boto3.client("sns").subscribe(
            TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"]
        )
        return self

    def drain(self) -> list[dict[str, Any]]:
        """Every alert received so far (the SNS message's JSON), oldest first."""
        sqs = boto3.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return self.messages
            for message in batch:
                self.messages.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def retained_alert(
    host: str, port: int, credentials: DeviceCredentials, topic: str
) -> dict[str, Any] | None:
    """The alert the broker retains on `topic`, read as the device (its own certificate, so the
    broker's ACL applies): what the device gets, and shows, whenever it connects. None if none."""
    result = subprocess.run(
        [
            "mosquitto_sub",
            *("-h", host, "-p", str(port), "-V", "mqttv5", "-q", "1"),
            *("--cafile", str(credentials.ca), "--cert", str(credentials.certificate)),
            *("--key", str(credentials.private_key), "--retained-only"),
            *("-t", topic, "-C", "1", "-W", str(RETAINED_WAIT_SECONDS)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():  # -W expired: nothing retained
        return None
    return dict(json.loads(result.stdout.splitlines()[0]))
