"""Batches and the progress of their steps, as the state table records them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from compactor.coverage import WHOLE_DAY, Intervals
from compactor.objects import RawObject

BATCH_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
OPEN = "OPEN"
SUCCEEDED = "SUCCEEDED"
DISCOVER_STEP = "discover"


def new_batch_id(now: datetime) -> str:
    """`<claim time>-<random>`: unique, sorts by claim time, safe in S3 keys and SQL."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def ctas_step(reading_date: str) -> str:
    return f"ctas:{reading_date}"


@dataclass(frozen=True)
class StepState:
    """One query step of a batch.

    `attempt` counts the step's failed queries; `query_id` is the running or finished query of the
    current attempt; `prepared` is the attempt whose clean-up (an earlier attempt's temporary
    table dropped) has been done. For a CTAS: `source` is where Athena wrote the table (S3 URI),
    `copied` says its files are complete under the batch's folder. `done` ends the step.
    """

    attempt: int = 0
    query_id: str | None = None
    prepared: int = -1
    source: str | None = None
    copied: bool = False
    done: bool = False

    def started(self, query_id: str) -> StepState:
        return replace(self, query_id=query_id)

    def failed(self) -> StepState:
        return StepState(attempt=self.attempt + 1)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    objects: tuple[RawObject, ...]
    reason: str
    claimed_at: str
    status: str = OPEN
    attempts: int = 0
    dates: tuple[str, ...] | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    last_error: str | None = None
    # The reading seconds per date (second-of-day ranges); None before discover, and for a
    # batch discovered before seconds were recorded (then the whole day counts).
    coverage: dict[str, Intervals] | None = None

    def ranges(self, reading_date: str) -> Intervals:
        """The seconds of a reading date the batch holds readings of."""
        if self.coverage is None or reading_date not in self.coverage:
            return WHOLE_DAY
        return self.coverage[reading_date]

    @property
    def bucket(self) -> str:
        return self.objects[0].bucket

    @property
    def partitions(self) -> dict[str, tuple[int, ...]]:
        """The raw table's (dt, hour) partitions the batch's objects sit in."""
        hours: dict[str, set[int]] = {}
        for obj in self.objects:
            hours.setdefault(obj.dt, set()).add(obj.hour)
        return {dt: tuple(sorted(hs)) for dt, hs in sorted(hours.items())}

    def step(self, name: str) -> StepState:
        return self.steps.get(name, StepState())

    def with_step(self, name: str, state: StepState) -> Batch:
        return replace(self, steps={**self.steps, name: state})
