"""The state table's conditional writes on moto's DynamoDB: count once, claim all-or-nothing,
one lease holder per batch, slots held by one batch at a time, state written only by the lease
holder, and the index of compacted batches by the seconds they hold."""

from datetime import UTC, datetime, timedelta

import pytest
from compactor_objects import raw_object

from compactor.batches import OPEN, SUCCEEDED, StepState
from compactor.state import LeaseLost

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BATCH = "20261122T120000Z-00000001"


def test_an_object_is_counted_once_however_often_it_is_registered(cloud):
    store = cloud.store
    a, b = raw_object(2), raw_object(1)
    assert store.register(a, NOW) is True
    assert store.register(a, NOW) is False
    assert store.register(b, NOW) is True
    assert store.register(a, NOW + timedelta(hours=3)) is False
    assert [o.key for o in store.pending(10)] == [b.key, a.key]  # oldest event first
    assert store.count_pending() == 2


def test_a_claim_moves_exactly_its_objects_into_one_open_batch(cloud):
    store = cloud.store
    objs = [raw_object(i) for i in range(5)]
    for obj in objs:
        store.register(obj, NOW)
    assert store.claim(objs[:3], BATCH, "threshold", NOW) is True
    assert [o.key for o in store.pending(10)] == [o.key for o in objs[3:]]
    batch = store.load_batch(BATCH)
    assert batch.objects == tuple(objs[:3])
    assert (batch.status, batch.reason, batch.dates, batch.steps) == (OPEN, "threshold", None, {})
    assert store.open_batch_ids(NOW) == [BATCH]


def test_a_claim_overlapping_an_earlier_one_changes_nothing(cloud):
    store = cloud.store
    objs = [raw_object(i) for i in range(4)]
    for obj in objs:
        store.register(obj, NOW)
    assert store.claim(objs[:2], BATCH, "threshold", NOW)
    other = "20261122T120000Z-00000002"
    assert store.claim(objs[1:4], other, "threshold", NOW) is False  # objs[1] is taken
    assert store.load_batch(other) is None
    assert [o.key for o in store.pending(10)] == [o.key for o in objs[2:]]  # untouched
    assert store.open_batch_ids(NOW) == [BATCH]


def test_a_re_delivered_event_after_the_claim_is_not_counted_again(cloud):
    store = cloud.store
    obj = raw_object(1)
    store.register(obj, NOW)
    store.claim([obj], BATCH, "age", NOW)
    assert store.register(obj, NOW) is False
    assert store.pending(10) == []


def test_one_lease_holder_per_batch_and_takeover_only_of_an_expired_lease(cloud):
    store = cloud.store
    other = "20261122T120000Z-00000002"
    assert store.lease(BATCH) is None
    assert store.take_lease(BATCH, "a", 1_000, None) is True
    assert store.take_lease(BATCH, "b", 2_000, None) is False
    assert store.take_lease(other, "b", 2_000, None) is True  # another batch, side by side
    held = store.lease(BATCH)
    assert (held.batch_id, held.owner, held.lease_until_ms) == (BATCH, "a", 1_000)
    assert store.take_lease(BATCH, "b", 2_000, held) is True
    assert store.take_lease(BATCH, "c", 3_000, held) is False  # stale view of the lease
    with pytest.raises(LeaseLost):
        store.release_lease(BATCH, "a")
    store.end_lease(BATCH, "b", 500)
    assert store.lease(BATCH).lease_until_ms == 500
    store.release_lease(BATCH, "b")
    assert store.lease(BATCH) is None
    assert store.lease(other).owner == "b"


def h(hour, minute, second):
    """A second of the day."""
    return hour * 3600 + minute * 60 + second


def claimed(store, number, batch_id, owner):
    obj = raw_object(number)
    store.register(obj, NOW)
    store.claim([obj], batch_id, "age", NOW)
    store.take_lease(batch_id, owner, 10**13, None)
    return store.load_batch(batch_id)


def test_slots_are_taken_all_or_nothing_and_freed_with_the_index_entry(cloud):
    store = cloud.store
    other_id = "20261122T120000Z-00000002"
    first = claimed(store, 1, BATCH, "a")
    other = claimed(store, 2, other_id, "b")
    seconds = {"2026-11-22": ((h(11, 59, 58), h(12, 0, 1)),)}  # 11:59:58 to 12:00:01
    store.save_dates(first, seconds, "a")
    first = store.load_batch(BATCH)
    assert first.coverage == seconds and first.dates == ("2026-11-22",)
    slots = ["2026-11-22T11", "2026-11-22T12"]
    assert store.take_slots(BATCH, "a", slots) is True
    assert store.take_slots(BATCH, "a", slots) is True  # held already: still ours
    assert store.take_slots(other_id, "b", ["2026-11-22T10", "2026-11-22T12"]) is False
    assert store.slot_holder("2026-11-22T10") is None  # nothing of a refused take stays
    assert store.take_slots(other_id, "b", ["2026-11-22T13"]) is True  # disjoint: side by side
    with pytest.raises(LeaseLost):
        store.take_slots(BATCH, "intruder", slots)

    files = [f"s3://sensor-data/compacted/dt=2026-11-22/batch={BATCH}/part-0"]
    step = "ctas:2026-11-22"
    store.complete_date(first, step, StepState(done=True), "2026-11-22", files, "a", NOW)
    assert [store.slot_holder(s) for s in slots] == [None, None]
    assert store.slot_holder("2026-11-22T13") == other_id
    assert store.load_batch(BATCH).step(step).done

    # Only a batch whose seconds meet the indexed ones reads their files.
    def colliding(date, start, end, batch_id=other_id):
        return store.colliding_files(date, ((start, end),), batch_id)

    assert colliding("2026-11-22", h(12, 0, 1), h(12, 0, 5)) == files
    assert colliding("2026-11-22", h(11, 59, 59), h(11, 59, 59)) == files
    assert colliding("2026-11-22", h(10, 0, 0), h(13, 0, 0)) == files
    assert colliding("2026-11-22", h(12, 0, 2), h(12, 30, 0)) == []
    assert colliding("2026-11-22", h(10, 0, 0), h(11, 59, 57)) == []
    assert colliding("2026-11-23", h(12, 0, 0), h(12, 0, 0)) == []
    assert colliding("2026-11-22", h(12, 0, 0), h(12, 0, 0), BATCH) == []  # its own
    assert other.status == OPEN


def test_only_the_lease_holder_records_progress(cloud):
    store = cloud.store
    batch = claimed(store, 1, BATCH, "holder")
    store.save_step(batch, "discover", StepState(query_id="q-1"), "holder")
    store.save_dates(batch, {"2026-11-22": ((0, 5),)}, "holder")
    with pytest.raises(LeaseLost):
        store.save_step(batch, "discover", StepState(query_id="q-2"), "intruder")
    with pytest.raises(LeaseLost):
        store.finish(batch, "intruder", NOW)
    batch = store.load_batch(BATCH)
    assert batch.step("discover") == StepState(query_id="q-1")
    assert batch.dates == ("2026-11-22",)
    assert batch.status == OPEN


def test_fail_delays_the_batch_and_frees_its_lease_and_slots_and_finish_closes_it(cloud):
    store = cloud.store
    batch = claimed(store, 1, BATCH, "holder")
    assert store.take_slots(BATCH, "holder", ["2026-11-22T12"])
    store.fail(
        batch,
        "discover",
        StepState(attempt=1),
        "boom",
        NOW + timedelta(minutes=1),
        "holder",
        ["2026-11-22T12"],
    )
    assert store.lease(BATCH) is None
    assert store.slot_holder("2026-11-22T12") is None
    assert store.open_batch_ids(NOW) == []
    assert store.open_batch_ids(NOW + timedelta(minutes=1)) == [BATCH]
    batch = store.load_batch(BATCH)
    assert (batch.attempts, batch.last_error, batch.step("discover").attempt) == (1, "boom", 1)

    store.take_lease(BATCH, "again", 10**13, None)
    store.finish(batch, "again", NOW)
    assert store.lease(BATCH) is None
    assert store.open_batch_ids(NOW + timedelta(days=1)) == []
    item = cloud.dynamodb.get_item(
        TableName=cloud.settings.state_table,
        Key={"pk": {"S": f"batch#{BATCH}"}, "sk": {"S": "batch"}},
    )["Item"]
    assert item["status"]["S"] == SUCCEEDED
    assert int(item["ttl"]["N"]) > NOW.timestamp()
