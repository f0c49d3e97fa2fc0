"""The counting and claiming rules, against an in-memory store with DynamoDB's conditions."""

from datetime import UTC, datetime, timedelta

import pytest
from compactor_events import raw_object

from compactor.claims import (
    AGE,
    MAX_LOST_RACES,
    THRESHOLD,
    choose_batch,
    claim_ready_batches,
    count_objects,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class MemoryStore:
    """register: conditional on the object being new; claim: all objects still pending, or none."""

    def __init__(self):
        self.seen = set()
        self.pending_objects = {}
        self.batches = {}

    def register(self, obj, now):
        if obj.key in self.seen:
            return False
        self.seen.add(obj.key)
        self.pending_objects[obj.key] = obj
        return True

    def pending(self, limit):
        return sorted(self.pending_objects.values(), key=lambda o: (o.event_time, o.key))[:limit]

    def claim(self, objects, batch_id, reason, now):
        if any(o.key not in self.pending_objects for o in objects) or batch_id in self.batches:
            return False
        for o in objects:
            del self.pending_objects[o.key]
        self.batches[batch_id] = (tuple(objects), reason)
        return True


def ids():
    counter = iter(range(10_000))
    return lambda now: f"20261122T120000Z-{next(counter):08x}"


def test_threshold_reached_claims_exactly_threshold_oldest_first():
    objs = [raw_object(i) for i in range(5)]
    choice = choose_batch(objs, threshold=5, max_age=HOUR, now=NOW)
    assert choice.reason == THRESHOLD
    assert choice.objects == tuple(objs)


def test_below_threshold_and_young_claims_nothing():
    young = [raw_object(i, hour=11) for i in range(4)]  # 11:00:0x: half an hour old at 11:30
    assert choose_batch(young, threshold=5, max_age=HOUR, now=NOW - HOUR / 2) is None
    assert choose_batch([], threshold=5, max_age=HOUR, now=NOW) is None


def test_the_tail_is_claimed_once_its_oldest_object_is_older_than_max_age():
    objs = [raw_object(0, hour=10), raw_object(1, hour=11)]  # 10:00:00 is 2 h old
    choice = choose_batch(objs, threshold=5, max_age=HOUR, now=NOW)
    assert choice.reason == AGE
    assert len(choice.objects) == 2
    exactly_max_age = [raw_object(0, hour=11)]  # 11:00:00.000 is exactly 1 h old
    assert choose_batch(exactly_max_age, threshold=5, max_age=HOUR, now=NOW).reason == AGE


def test_more_than_threshold_objects_is_a_caller_error():
    with pytest.raises(ValueError, match="at most"):
        choose_batch([raw_object(i) for i in range(6)], threshold=5, max_age=HOUR, now=NOW)


def test_counting_twice_counts_once():
    store = MemoryStore()
    objs = [raw_object(i) for i in range(3)]
    first = count_objects(store, objs, NOW)
    again = count_objects(store, [objs[1], objs[1], objs[2]], NOW)
    assert (first.counted, first.duplicates) == (3, 0)
    assert (again.counted, again.duplicates) == (0, 3)
    assert len(store.pending(100)) == 3


def test_claims_full_batches_and_leaves_the_young_remainder():
    store = MemoryStore()
    young = NOW - timedelta(minutes=5)
    count_objects(store, [raw_object(i, hour=11) for i in range(45)], young)
    claimed = claim_ready_batches(
        store, 20, HOUR, lambda: datetime(2026, 11, 22, 11, 5, tzinfo=UTC), ids()
    )
    assert len(claimed) == 2
    assert all(len(store.batches[b][0]) == 20 for b in claimed)
    assert len(store.pending(100)) == 5
    batched = [o.key for b in claimed for o in store.batches[b][0]]
    assert len(set(batched)) == 40


def test_the_old_tail_is_claimed_as_a_smaller_batch():
    store = MemoryStore()
    count_objects(store, [raw_object(i, hour=9) for i in range(7)], NOW)
    [batch] = claim_ready_batches(store, 20, HOUR, lambda: NOW, ids())
    objects, reason = store.batches[batch]
    assert (len(objects), reason) == (7, AGE)
    assert store.pending(100) == []


class RacingStore(MemoryStore):
    """Another invocation claims the oldest pending object just before each of our claims."""

    def __init__(self, steals):
        super().__init__()
        self.steals = steals

    def claim(self, objects, batch_id, reason, now):
        if self.steals:
            self.steals -= 1
            oldest = self.pending(1)[0]
            super().claim([oldest], f"other-{self.steals}", "other", now)
        return super().claim(objects, batch_id, reason, now)


def test_a_lost_race_looks_again_and_never_double_claims():
    store = RacingStore(steals=2)
    count_objects(store, [raw_object(i) for i in range(22)], NOW)
    claimed = claim_ready_batches(store, 20, HOUR, lambda: NOW - 2 * HOUR, ids())
    # Two objects went to the other invocation; the remaining 20 form our batch.
    assert len(claimed) == 1
    assert len(store.batches[claimed[0]][0]) == 20
    keys = [o.key for objects, _ in store.batches.values() for o in objects]
    assert len(keys) == len(set(keys)) == 22


def test_endless_lost_races_give_up_leaving_objects_pending():
    class AlwaysLoses(MemoryStore):
        def claim(self, objects, batch_id, reason, now):
            self.attempts = getattr(self, "attempts", 0) + 1
            return False

    store = AlwaysLoses()
    count_objects(store, [raw_object(i) for i in range(20)], NOW)
    assert claim_ready_batches(store, 20, HOUR, lambda: NOW, ids()) == []
    assert store.attempts == MAX_LOST_RACES
    assert len(store.pending(100)) == 20


def test_without_a_max_age_only_full_batches_are_chosen():
    """S3-event invocations claim full batches only; the schedule claims the tail."""
    old = [raw_object(i, hour=10) for i in range(3)]  # 2 h old: a tail for the schedule
    assert choose_batch(old, threshold=5, max_age=HOUR, now=NOW).reason == AGE
    assert choose_batch(old, threshold=5, max_age=None, now=NOW) is None
    full = [raw_object(i, hour=10) for i in range(5)]
    assert choose_batch(full, threshold=5, max_age=None, now=NOW).reason == THRESHOLD
