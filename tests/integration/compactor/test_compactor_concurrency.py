"""Counting and claiming under concurrency on moto's DynamoDB: every object in exactly one batch.

Invocations run on threads with S3's at-least-once delivery (every object delivered up to three
times, in any order); a property-based test drives explicit interleavings of two invocations that
look at the pending objects and claim later, on a stale view.
"""

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from compactor_cloud import create_state_table
from compactor_objects import raw_object
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compactor.claims import choose_batch, claim_ready_batches, count_objects
from compactor.state import StateStore

pytestmark = pytest.mark.integration

DURING = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)  # objects are created from 10:00:00
LATER = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # every object is older than max age
MAX_AGE = timedelta(minutes=60)


def batches_of(store, batch_ids):
    return {b: store.load_batch(b) for b in batch_ids}


def assert_each_object_in_exactly_one_batch(batches, objects):
    keys = Counter(o.key for batch in batches.values() for o in batch.objects)
    assert set(keys) == {o.key for o in objects}, "an object was left out"
    assert max(keys.values(), default=1) == 1, "an object is in two batches"


def test_threads_with_duplicate_events_put_every_object_in_exactly_one_batch(cloud):
    threshold, total, workers = 10, 57, 8
    objects = [raw_object(i) for i in range(total)]
    deliveries = [o for o in objects for _ in range(random.randint(1, 3))]
    random.Random(5).shuffle(deliveries)
    events = [deliveries[i : i + 3] for i in range(0, len(deliveries), 3)]  # 1-3 records each
    claimed, counted, lock = [], Counter(), threading.Lock()
    start = threading.Barrier(workers)

    def invocation_loop(worker):
        store = StateStore(cloud.dynamodb, cloud.settings.state_table)
        start.wait()
        for event in events[worker::workers]:
            result = count_objects(store, event, DURING)
            ids = claim_ready_batches(store, threshold, MAX_AGE, lambda: DURING)
            with lock:
                claimed.extend(ids)
                counted["counted"] += result.counted
                counted["duplicates"] += result.duplicates

    threads = [threading.Thread(target=invocation_loop, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counted["counted"] == total
    assert counted["duplicates"] == len(deliveries) - total
    store = cloud.store
    batches = batches_of(store, claimed)
    assert sorted(len(b.objects) for b in batches.values()) == [threshold] * (total // threshold)
    assert store.count_pending() == total % threshold
    # The scheduled invocation compacts the tail once it is old enough.
    tail = claim_ready_batches(store, threshold, MAX_AGE, lambda: LATER)
    batches |= batches_of(store, tail)
    assert [batches[b].reason for b in tail] == ["age"]
    assert_each_object_in_exactly_one_batch(batches, objects)
    assert sorted(store.open_batch_ids(LATER)) == sorted(batches)


# One step of the interleaving: deliver object i, or invocation k looks at the pending objects,
# or invocation k claims what it chose when it last looked.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.integers(0, 14)),
        st.tuples(st.just("look"), st.integers(0, 1)),
        st.tuples(st.just("claim"), st.integers(0, 1)),
    ),
    min_size=5,
    max_size=45,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_interleavings_of_stale_claims_never_lose_or_duplicate(cloud, steps):
    threshold = 4
    table = f"state-{uuid.uuid4().hex}"
    create_state_table(cloud.dynamodb, table)
    store = StateStore(cloud.dynamodb, table)
    chosen = {0: None, 1: None}
    delivered, claimed, batches = set(), [], {}
    for n, (action, arg) in enumerate(steps):
        if action == "deliver":
            store.register(raw_object(arg), DURING)
            delivered.add(arg)
        elif action == "look":
            chosen[arg] = choose_batch(store.pending(threshold), threshold, MAX_AGE, DURING)
        elif chosen[arg] is not None:
            batch_id = f"20261122T100500Z-{n:08x}"
            if store.claim(chosen[arg].objects, batch_id, chosen[arg].reason, DURING):
                claimed.append(batch_id)
                batches[batch_id] = store.load_batch(batch_id)
            chosen[arg] = None
        in_batches = Counter(o.key for b in batches.values() for o in b.objects)
        pending = {o.key for o in store.pending(100)}
        assert max(in_batches.values(), default=1) == 1
        assert not pending & set(in_batches)
        assert pending | set(in_batches) == {raw_object(i).key for i in delivered}
        assert all(len(b.objects) == threshold for b in batches.values())
    claimed += claim_ready_batches(store, threshold, MAX_AGE, lambda: LATER)
    assert_each_object_in_exactly_one_batch(
        batches_of(store, claimed), [raw_object(i) for i in delivered]
    )
