"""Counting raw objects and claiming them in batches.

`choose_batch` is the rule (pure); `claim_ready_batches` applies it against the state table until
nothing is ready. Two invocations that both see enough objects race in one DynamoDB transaction per
claim: each pending object can be deleted only once, so exactly one of them wins and the other
looks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from compactor.batches import new_batch_id
from compactor.objects import RawObject, format_time

THRESHOLD = "threshold"
AGE = "age"
MAX_LOST_RACES = 20


@dataclass(frozen=True)
class Choice:
    objects: tuple[RawObject, ...]
    reason: str


class ClaimStore(Protocol):
    def register(self, obj: RawObject, now: datetime) -> bool: ...

    def pending(self, limit: int) -> list[RawObject]: ...

    def claim(
        self, objects: Sequence[RawObject], batch_id: str, reason: str, now: datetime
    ) -> bool: ...


def choose_batch(
    oldest_pending: Sequence[RawObject], threshold: int, max_age: timedelta | None, now: datetime
) -> Choice | None:
    """Which objects to claim next, given the oldest pending objects (at most `threshold`).

    Exactly `threshold` objects once that many are pending; fewer only when the oldest of them has
    waited longer than `max_age` (the tail, so late data is never stuck). `max_age` None: full
    batches only.
    """
    if len(oldest_pending) > threshold:
        raise ValueError("pass at most `threshold` pending objects")
    if not oldest_pending:
        return None
    if len(oldest_pending) == threshold:
        return Choice(tuple(oldest_pending), THRESHOLD)
    if max_age is not None and oldest_pending[0].event_time <= format_time(now - max_age):
        return Choice(tuple(oldest_pending), AGE)
    return None


@dataclass
class CountResult:
    counted: int = 0
    duplicates: int = 0


def count_objects(store: ClaimStore, objects: Sequence[RawObject], now: datetime) -> CountResult:
    """Count each object once; an object seen before (a re-delivered event) is not counted."""
    result = CountResult()
    for obj in objects:
        if store.register(obj, now):
            result.counted += 1
        else:
            result.duplicates += 1
    return result


def claim_ready_batches(
    store: ClaimStore,
    threshold: int,
    max_age: timedelta | None,
    clock: Callable[[], datetime],
    make_batch_id: Callable[[datetime], str] = new_batch_id,
) -> list[str]:
    """Claim batches while the rule says so; the ids of the batches this call claimed.

    A lost race (another invocation claimed some of the same objects first) means: look again.
    After many lost races in a row the call gives up; the objects stay pending for the next one.
    """
    claimed: list[str] = []
    lost = 0
    while lost < MAX_LOST_RACES:
        now = clock()
        choice = choose_batch(store.pending(threshold), threshold, max_age, now)
        if choice is None:
            break
        batch_id = make_batch_id(now)
        if store.claim(choice.objects, batch_id, choice.reason, now):
            claimed.append(batch_id)
            lost = 0
        else:
            lost += 1
    return claimed
