"""The state table's conditional writes on moto's DynamoDB: count once, claim all-or-nothing,
one lock holder, and state written only by the lock holder."""

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


def test_one_lock_holder_and_takeover_only_of_an_expired_lease(cloud):
    store = cloud.store
    assert store.lock() is None
    assert store.take_lock(BATCH, "a", 1_000, None) is True
    assert store.take_lock("20261122T120000Z-00000002", "b", 2_000, None) is False
    held = store.lock()
    assert (held.batch_id, held.owner, held.lease_until_ms) == (BATCH, "a", 1_000)
    assert store.take_lock(BATCH, "b", 2_000, held) is True
    assert store.take_lock(BATCH, "c", 3_000, held) is False  # stale view of the lock
    with pytest.raises(LeaseLost):
        store.release_lock("a")
    store.end_lease("b", 500)
    assert store.lock().lease_until_ms == 500
    store.release_lock("b")
    assert store.lock() is None


def test_only_the_lock_holder_records_progress(cloud):
    store = cloud.store
    obj = raw_object(1)
    store.register(obj, NOW)
    store.claim([obj], BATCH, "age", NOW)
    store.take_lock(BATCH, "holder", 10**13, None)
    batch = store.load_batch(BATCH)
    store.save_step(batch, "discover", StepState(query_id="q-1"), "holder")
    store.save_dates(batch, ["2026-11-22"], "holder")
    with pytest.raises(LeaseLost):
        store.save_step(batch, "discover", StepState(query_id="q-2"), "intruder")
    with pytest.raises(LeaseLost):
        store.finish(batch, "intruder", NOW)
    batch = store.load_batch(BATCH)
    assert batch.step("discover") == StepState(query_id="q-1")
    assert batch.dates == ("2026-11-22",)
    assert batch.status == OPEN


def test_fail_delays_the_batch_and_frees_the_lock_and_finish_closes_it(cloud):
    store = cloud.store
    obj = raw_object(1)
    store.register(obj, NOW)
    store.claim([obj], BATCH, "age", NOW)
    store.take_lock(BATCH, "holder", 10**13, None)
    batch = store.load_batch(BATCH)
    store.fail(
        batch, "discover", StepState(attempt=1), "boom", NOW + timedelta(minutes=1), "holder"
    )
    assert store.lock() is None
    assert store.open_batch_ids(NOW) == []
    assert store.open_batch_ids(NOW + timedelta(minutes=1)) == [BATCH]
    batch = store.load_batch(BATCH)
    assert (batch.attempts, batch.last_error, batch.step("discover").attempt) == (1, "boom", 1)

    store.take_lock(BATCH, "again", 10**13, None)
    store.finish(batch, "again", NOW)
    assert store.lock() is None
    assert store.open_batch_ids(NOW + timedelta(days=1)) == []
    item = cloud.dynamodb.get_item(
        TableName=cloud.settings.state_table,
        Key={"pk": {"S": f"batch#{BATCH}"}, "sk": {"S": "batch"}},
    )["Item"]
    assert item["status"]["S"] == SUCCEEDED
    assert int(item["ttl"]["N"]) > NOW.timestamp()
