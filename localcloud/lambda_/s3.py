"""S3 bucket notifications for a Lambda, carried through SQS, as S3 would invoke the function.

In AWS, S3 invokes the function asynchronously with one event per object
(`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {...}, "object": {"key",
"size", "eTag", "sequencer"}}, ...}]}`, the key URL-encoded as in an HTML form: spaces as `+`,
`=` as `%3D`). Lambda retries a failing asynchronous invocation twice (after about one and two
minutes), then discards the event or sends it to the function's dead-letter target.

moto cannot run a function, but it really delivers S3 notifications to SQS. The bridge therefore
creates a queue (and its dead-letter queue) for the function, adds a `QueueConfiguration` with the
same events and key filter to the bucket's notification configuration, and polls the queue: each
message's body is unwrapped and the function is invoked with the S3 event itself. A failure
leaves the message in the queue to come back after the next retry delay; the redrive policy
(`maxReceiveCount` 3: the first attempt and two retries) then moves it to the dead-letter queue,
where `dead_letters()` finds it.

Differences from AWS:
- The invocation is synchronous, from the poller, one event at a time.
- The retry delays default to Lambda's (60 s, then 120 s) and can be shortened for tests.
- Fields moto leaves out of the event are filled in: `userIdentity`, `requestParameters`,
  `responseElements` (fixed local values) and `s3.object.sequencer` (hex of the event time in
  milliseconds and a per-bridge counter: increasing for events of one key, like S3's).
- moto encodes `/` in the key as `%2F`; the bridge re-encodes the key as S3 does (form encoding
  with `/` kept). Python's and S3's encoders may differ on rare characters such as `~`.
- The `s3:TestEvent` message S3 (and moto) send when a queue is configured is deleted without
  invoking the function (S3 sends no test event to a Lambda destination).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote_plus, unquote_plus

import boto3

from localcloud.lambda_.function import LambdaInvocationError, LocalLambda
from localcloud.lambda_.sources import SqsEventSource, create_queue_with_dlq

log = logging.getLogger("localcloud.lambda")
S3_ASYNC_RETRY_DELAYS: Final = (60.0, 120.0)
MAX_RECEIVE_COUNT: Final = 3  # the first invocation and Lambda's two asynchronous retries


class _S3EventQueue(SqsEventSource):
    """Unwraps each message and invokes the function with the S3 event, one at a time."""

    def __init__(
        self, queue_url: str, function: LocalLambda, retry_delays: Sequence[float]
    ) -> None:
        super().__init__(queue_url, function, batch_size=10)
        self.retry_delays = tuple(retry_delays)
        self._sequence = itertools.count(1)
        self._sequence_lock = threading.Lock()

    def retry_delay(self, message: dict[str, Any]) -> float | None:
        received = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if not self.retry_delays:
            return 0.0
        return self.retry_delays[min(received, len(self.retry_delays)) - 1]

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        failed: set[str] = set()
        for message in messages:
            try:
                event = json.loads(message["Body"])
            except ValueError:
                log.error("%s: not an S3 event, dropped: %.200s", self.function.name, message)
                self.ignored += 1
                continue
            if event.get("Event") == "s3:TestEvent":
                self.ignored += 1
                continue
            with self._sequence_lock:
                number = next(self._sequence)
            try:
                self.function.invoke(complete_s3_event(event, number))
            except LambdaInvocationError as err:
                log.warning("%s: S3 event failed, will retry: %s", self.function.name, err)
                failed.add(message["MessageId"])
        return failed


def complete_s3_event(event: dict[str, Any], number: int) -> dict[str, Any]:
    """Add the fields S3 sends and moto omits; keep everything moto sent."""
    records = []
    for record in event.get("Records", []):
        filled = {
            "eventVersion": "2.1",
            "userIdentity": {"principalId": "AWS:localcloud"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": f"LOCAL{number:011d}",
                "x-amz-id-2": "localcloud",
            },
            **record,
        }
        s3 = dict(filled.get("s3", {}))
        obj = dict(s3.get("object", {}))
        if "sequencer" not in obj:
            obj["sequencer"] = _sequencer(filled.get("eventTime"), number)
        if isinstance(obj.get("key"), str):
            obj["key"] = s3_event_key(unquote_plus(obj["key"]))
        s3["object"] = obj
        filled["s3"] = s3
        records.append(filled)
    return {**event, "Records": records}


def s3_event_key(key: str) -> str:
    """A key as S3 writes it into an event: form-encoded (space as `+`), `/` kept."""
    return quote_plus(key, safe="/")


def _sequencer(event_time: str | None, number: int) -> str:
    millis = 0
    if event_time:
        try:
            millis = int(
                datetime.fromisoformat(event_time.replace("Z", "+00:00")).timestamp() * 1000
            )
        except ValueError:
            millis = 0
    return f"{millis:012X}{number:06X}"


class S3NotificationBridge:
    """One bucket notification to one function, through an SQS queue."""

    def __init__(
        self,
        bucket: str,
        function: LocalLambda,
        *,
        events: Sequence[str] = ("s3:ObjectCreated:*",),
        prefix: str | None = None,
        suffix: str | None = None,
        notification_id: str | None = None,
        queue_name: str | None = None,
        retry_delays: Sequence[float] = S3_ASYNC_RETRY_DELAYS,
    ) -> None:
        self.bucket = bucket
        self.function = function
        self.events = list(events)
        self.prefix = prefix
        self.suffix = suffix
        self.notification_id = notification_id or f"{function.name}-{bucket}"[:250]
        self.queue_name = queue_name or f"s3-events-{function.name}"[:70]
        self.retry_delays = tuple(retry_delays)
        self.queue_url = ""
        self.dlq_url = ""
        self._source: _S3EventQueue | None = None

    @classmethod
    def from_lambda_configuration(
        cls,
        bucket: str,
        configuration: Mapping[str, Any],
        function: LocalLambda,
        **kwargs: Any,
    ) -> S3NotificationBridge:
        """From one `LambdaFunctionConfigurations` item of a bucket's NotificationConfiguration
        (`Events`, `Filter.Key.FilterRules`, optional `Id`), as the template carries it."""
        rules = ((configuration.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        by_name = {str(rule.get("Name", "")).lower(): rule.get("Value") for rule in rules}
        unknown = set(by_name) - {"prefix", "suffix"}
        if unknown:
            raise ValueError(f"notification filter rules {sorted(unknown)} are not S3 key rules")
        events = configuration.get("Events") or []
        if not events:
            raise ValueError("a notification configuration needs Events")
        return cls(
            bucket,
            function,
            events=list(events),
            prefix=by_name.get("prefix"),
            suffix=by_name.get("suffix"),
            notification_id=configuration.get("Id"),
            **kwargs,
        )

    def install(self) -> S3NotificationBridge:
        """Create the queues and add the queue notification to the bucket (keeping the bucket's
        other notifications)."""
        visibility = self.function.config.timeout_seconds + 30
        self.queue_url, self.dlq_url = create_queue_with_dlq(
            self.queue_name, MAX_RECEIVE_COUNT, visibility
        )
        sqs = boto3.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        s3 = boto3.client("s3")
        current = s3.get_bucket_notification_configuration(Bucket=self.bucket)
        current.pop("ResponseMetadata", None)
        queues = [
            q for q in current.get("QueueConfigurations", []) if q.get("Id") != self.notification_id
        ]
        entry: dict[str, Any] = {
            "Id": self.notification_id,
            "QueueArn": queue_arn,
            "Events": self.events,
        }
        rules = [
            {"Name": name, "Value": value}
            for name, value in (("prefix", self.prefix), ("suffix", self.suffix))
            if value
        ]
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        current["QueueConfigurations"] = [*queues, entry]
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration=current
        )
        self._source = _S3EventQueue(self.queue_url, self.function, self.retry_delays)
        return self

    @property
    def source(self) -> SqsEventSource:
        if self._source is None:
            raise RuntimeError("install() the bridge first")
        return self._source

    def _installed(self) -> SqsEventSource:
        if self._source is None:
            self.install()
        return self.source

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Receive and handle one batch (installing the bridge first if needed)."""
        return self._installed().poll_once(wait_seconds)

    def run_forever(self, stop_event: threading.Event) -> None:
        self._installed().run_forever(stop_event)

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """Install the bridge if needed and poll its queue in a daemon thread."""
        return self._installed().start(stop_event)

    def dead_letters(self) -> list[dict[str, Any]]:
        """The S3 events that failed every attempt, as the function received them. They stay in
        the dead-letter queue."""
        sqs = boto3.client("sqs")
        out: list[dict[str, Any]] = []
        handles: list[str] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                handles.append(message["ReceiptHandle"])
                out.append(complete_s3_event(json.loads(message["Body"]), 0))
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for n, handle in enumerate(handles[start : start + 10])
                ],
            )
        return out
