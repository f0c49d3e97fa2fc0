"""What one invocation does, for each kind of event.

- S3 ObjectCreated (the raw/ prefix): count the objects once, claim the batches that are ready,
  run open batches while time is left.
- EventBridge schedule: claim what is ready (including the tail: objects older than the maximum
  age), resume or retry open batches.
- `{"action": "compact-pending"}` (an invocation by hand, `aws lambda invoke`): claim every
  pending object now, whatever its age, then as the schedule. For an operator who wants the
  compacted table complete before a query, and for tests that would otherwise wait for the tail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event

from compactor.claims import claim_ready_batches, count_objects
from compactor.objects import objects_from_s3_event
from compactor.runner import Runner
from compactor.settings import Settings
from compactor.state import StateStore
from compactor.waiting import Deadline

logger = Logger(child=True)
COMPACT_PENDING: Final = {"action": "compact-pending"}


class UnsupportedEvent(ValueError):
    """The invocation's event is neither an S3 notification nor a scheduled event."""


@dataclass
class Summary:
    kind: str
    counted: int = 0
    duplicates: int = 0
    rejected: int = 0
    claimed: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unfinished: str | None = None
    pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Compactor:
    settings: Settings
    store: StateStore
    runner: Runner
    clock: Callable[[], datetime]

    def handle(self, event: Mapping[str, Any], deadline: Deadline) -> Summary:
        """Dispatch on the event's shape; anything else raises UnsupportedEvent."""
        if event.get("Event") == "s3:TestEvent":
            logger.info("S3 test event ignored")
            return Summary(kind="s3-test-event")
        if isinstance(event.get("Records"), list):
            return self.on_objects_created(S3Event(dict(event)), deadline)
        if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
            return self.on_schedule(EventBridgeEvent(dict(event)), deadline)
        if dict(event) == COMPACT_PENDING:
            logger.info("compacting every pending object now, as asked")
            return self._claim_and_run(Summary(kind="compact-pending"), deadline, timedelta(0))
        raise UnsupportedEvent(
            "expected an S3 ObjectCreated notification, an EventBridge 'Scheduled Event' or "
            f"{COMPACT_PENDING}; got an event with keys {sorted(event)[:10]}"
        )

    def on_objects_created(self, event: S3Event, deadline: Deadline) -> Summary:
        summary = Summary(kind="s3")
        objects, rejected = objects_from_s3_event(event, self.settings)
        for item in rejected:
            logger.error("S3 record not counted", extra={"key": item.key, "reason": item.reason})
        summary.rejected = len(rejected)
        counted = count_objects(self.store, objects, self.clock())
        summary.counted, summary.duplicates = counted.counted, counted.duplicates
        if counted.duplicates:
            logger.info(
                "re-delivered objects were not counted again",
                extra={"duplicates": counted.duplicates},
            )
        # Only full batches here. The tail is the schedule's: after a backlog, S3 events queue up
        # and are older than the tail age when counted; claiming a tail on each of them would
        # compact them one object at a time.
        return self._claim_and_run(summary, deadline, None)

    def on_schedule(self, event: EventBridgeEvent, deadline: Deadline) -> Summary:
        logger.debug("scheduled run", extra={"time": event.time})
        tail = timedelta(minutes=self.settings.max_age_minutes)
        return self._claim_and_run(Summary(kind="schedule"), deadline, tail)

    def _claim_and_run(
        self, summary: Summary, deadline: Deadline, max_age: timedelta | None
    ) -> Summary:
        """Claim the ready batches (full ones; with `max_age`, also fewer objects whose oldest
        waited that long), then run open batches while time is left."""
        summary.claimed = claim_ready_batches(
            self.store, self.settings.threshold, max_age, self.clock
        )
        for batch_id in summary.claimed:
            logger.info("batch claimed", extra={"batch_id": batch_id})
        report = self.runner.run(deadline)
        summary.succeeded, summary.failed = report.succeeded, report.failed
        summary.unfinished = report.unfinished
        summary.pending = self.store.count_pending()
        return summary
