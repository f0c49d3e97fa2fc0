"""What invokes a local Lambda: an SQS event source mapping and an EventBridge schedule.

`SqsEventSource` polls a queue (moto's SQS, a real data plane) and invokes the function with the
Lambda SQS event (`Records[]` with `messageId`, `receiptHandle`, `body`, `attributes`,
`messageAttributes`, `md5OfBody`, `eventSource: aws:sqs`, `eventSourceARN`, `awsRegion`). A batch
the function handled is deleted; on an error its messages stay in the queue and come back after
the visibility timeout, so delivery is at least once; the queue's redrive policy
(`maxReceiveCount`, dead-letter queue) ends the retries, as in AWS. With
`report_batch_item_failures` (`FunctionResponseTypes: ReportBatchItemFailures`) only the items
the function names in `batchItemFailures` are kept.

`ScheduleSource` sends EventBridge's scheduled event (`source: aws.events`, `detail-type:
Scheduled Event`) as an Event (asynchronous) invocation every `rate_seconds`.

Differences from AWS:
- One poller per source, invoking one batch at a time (Lambda scales pollers and concurrency).
- `retry_delay_seconds` (off by default) makes a failed message visible again after that delay
  instead of the queue's visibility timeout.
- A batch is at most `batch_size` messages received in one go; there is no batching window.
- Only `rate(...)` schedule expressions; the first event is sent one rate after the start.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import boto3

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.core.service import run_until_set
from localcloud.lambda_.function import LambdaInvocationError, LocalLambda

log = logging.getLogger("localcloud.lambda")
SQS_MAX_RECEIVE: Final = 10
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}


def create_queue_with_dlq(
    name: str, max_receive_count: int, visibility_timeout_seconds: int
) -> tuple[str, str]:
    """A queue whose redrive policy moves a message to `<name>-dlq` after `max_receive_count`
    receives. Returns (queue URL, dead-letter queue URL)."""
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(policy),
        },
    )["QueueUrl"]
    return queue_url, dlq_url


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the Lambda SQS event, from a ReceiveMessage message."""
    attributes = {
        key: value
        for key, value in (message.get("Attributes") or {}).items()
        if key
        in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
            "AWSTraceHeader",
        )
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource:
    """An SQS event source mapping for one function."""

    def __init__(
        self,
        queue_url: str,
        function: LocalLambda,
        batch_size: int = 10,
        *,
        report_batch_item_failures: bool = False,
        retry_delay_seconds: float | None = None,
        wait_seconds: int = 1,
    ) -> None:
        if not 1 <= batch_size <= SQS_MAX_RECEIVE:
            raise ValueError(f"batch_size must be 1-{SQS_MAX_RECEIVE}, got {batch_size}")
        self.queue_url = queue_url
        self.function = function
        self.batch_size = batch_size
        self.report_batch_item_failures = report_batch_item_failures
        self.retry_delay_seconds = retry_delay_seconds
        self.wait_seconds = wait_seconds
        self._sqs = boto3.client("sqs")
        self.queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.received = 0
        self.succeeded = 0
        self.failed = 0
        self.ignored = 0  # deleted without an invocation (not an event for the function)

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receive one batch and hand it to the function. Returns the number of messages."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.received += len(messages)
        ignored_before = self.ignored
        failed = self.deliver(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        retry = [m for m in messages if m["MessageId"] in failed]
        for message in retry:
            delay = self.retry_delay(message)
            if delay is not None:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=int(delay),
                )
        self.succeeded += len(done) - (self.ignored - ignored_before)
        self.failed += len(retry)
        return len(messages)

    def retry_delay(self, message: dict[str, Any]) -> float | None:
        """Seconds until a failed message is visible again (None: the queue's timeout)."""
        return self.retry_delay_seconds

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invoke the function; return the ids of the messages that failed."""
        event = {"Records": [sqs_record(m, self.queue_arn, REGION) for m in messages]}
        ids = {m["MessageId"] for m in messages}
        try:
            result = self.function.invoke(event)
        except LambdaInvocationError as err:
            log.warning("%s: batch of %d failed: %s", self.function.name, len(messages), err)
            return ids
        if not self.report_batch_item_failures:
            return set()
        return _batch_item_failures(result, ids)

    def run_forever(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("%s: polling %s failed", self.function.name, self.queue_url)
                stop_event.wait(1.0)

    def start(self, stop_event: threading.Event) -> threading.Thread:
        return run_until_set(self.run_forever, stop_event, f"sqs-{self.function.name}")


def _batch_item_failures(result: Any, ids: set[str]) -> set[str]:
    """The failed ids of a partial batch response; an invalid response fails the whole batch."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return ids
    items = result.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return ids
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return ids
        failed.add(identifier)
    return failed


def parse_rate_expression(expression: str) -> int:
    """Seconds between events of `rate(<n> <unit>)`; other expressions are rejected."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ValueError(
            f"schedule expression {expression!r} is not emulated locally (only rate(n unit))"
        )
    count, word = int(match.group(1)), match.group(2)
    unit = word.rstrip("s")
    if count < 1 or (count == 1) != (word == unit):  # EventBridge: "1 minute", "5 minutes"
        raise ValueError(f"schedule expression {expression!r}: use '1 {unit}' or 'n {unit}s'")
    return count * _UNIT_SECONDS[unit]


def scheduled_event(rule_arn: str, when: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a target for a schedule."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduleSource:
    """An EventBridge rate schedule targeting one function (asynchronous invocation)."""

    def __init__(
        self, rate_seconds: float, function: LocalLambda, rule_name: str = "schedule"
    ) -> None:
        if rate_seconds <= 0:
            raise ValueError("rate_seconds must be positive")
        self.rate_seconds = rate_seconds
        self.function = function
        self.rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule_name}"
        self.sent = 0

    def fire(self) -> str:
        """Send one scheduled event now; returns the invocation's request id."""
        self.sent += 1
        return self.function.invoke_async(scheduled_event(self.rule_arn))

    def run_forever(self, stop_event: threading.Event) -> None:
        while not stop_event.wait(self.rate_seconds):
            try:
                self.fire()
            except Exception:
                log.exception("%s: scheduled invocation failed", self.function.name)

    def start(self, stop_event: threading.Event) -> threading.Thread:
        return run_until_set(self.run_forever, stop_event, f"schedule-{self.function.name}")
