"""Running batches against moto (DynamoDB, S3, Glue) with a scripted Athena: the state machine.

Failures, slow queries, time limits, crashes and lost leases; checked through what stays behind
in S3, Glue and the state table.
"""

import re
from datetime import timedelta

import pytest
from compactor_fakes import FakeAthena
from compactor_objects import raw_object
from conftest import RESULTS_BUCKET, TestTime

from compactor.batches import SUCCEEDED
from compactor.files import AwsBatchFiles
from compactor.runner import Runner, retry_delay
from compactor.sql import output_prefix, temporary_table
from compactor.waiting import Deadline

pytestmark = pytest.mark.integration

D1, D2 = "2026-11-22", "2026-11-23"


def claim_batch(cloud, time, first, count, suffix):
    objects = [raw_object(i) for i in range(first, first + count)]
    for obj in objects:
        cloud.s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=b"{}\n")
        cloud.store.register(obj, time.now)
    batch_id = f"20261122T120000Z-{suffix:08x}"
    assert cloud.store.claim(objects, batch_id, "threshold", time.now)
    return batch_id


def runner(cloud, athena, time, owner):
    files = AwsBatchFiles(cloud.s3, cloud.glue)
    return Runner(cloud.store, athena, files, cloud.settings, time.clock, owner=owner)


def deadline(time):
    return Deadline(time.remaining_ms, sleep=time.sleep)


def tables(cloud):
    return {t["Name"] for t in cloud.glue.get_tables(DatabaseName="sensor_pipeline")["TableList"]}


def reading_date(query):
    """The reading date a CTAS compacts."""
    return re.search(r"substr\(ts, 1, 10\) = '([0-9-]+)'", query.sql).group(1)


def tags(cloud, key):
    return cloud.s3.get_object_tagging(Bucket="sensor-data", Key=key)["TagSet"]


@pytest.fixture
def time():
    return TestTime()


@pytest.fixture
def athena(cloud):
    return FakeAthena(cloud.s3, cloud.glue, dates=(D1, D2))


def test_a_batch_runs_one_ctas_per_reading_date_and_leaves_only_parquet(cloud, athena, time):
    batch_id = claim_batch(cloud, time, 0, 3, 1)
    report = runner(cloud, athena, time, "a").run(deadline(time))

    assert report.succeeded == [batch_id]
    assert [q.kind for q in athena.started()] == ["discover", "ctas", "ctas"]
    for query, date in zip(athena.started("ctas"), (D1, D2), strict=True):
        assert reading_date(query) == date
        prefix = output_prefix("compacted/", batch_id, date)
        assert cloud.keys(prefix) == [f"{prefix}{query.query_id}-{p}.parquet" for p in (0, 1)]
    assert tables(cloud) == set()  # temporary tables dropped, the data stays
    assert cloud.keys("tables/", bucket=RESULTS_BUCKET) == []  # moved, not left twice
    batch = cloud.store.load_batch(batch_id)
    assert (batch.status, batch.dates) == (SUCCEEDED, (D1, D2))
    assert cloud.store.lease(batch_id) is None
    assert cloud.store.slot_holder(f"{D1}T12") is None
    assert cloud.store.open_batch_ids(time.now + timedelta(days=1)) == []
    assert tags(cloud, raw_object(1).key) == [{"Key": "compacted", "Value": "true"}]
    assert time.sleeps, "waited for the queries with backoff"


def test_a_failed_ctas_is_retried_later_without_a_second_copy(cloud, athena, time):
    batch_id = claim_batch(cloud, time, 0, 3, 1)
    athena.slow_next("ctas", polls=1)  # D1 succeeds
    athena.fail_next("ctas", write_partial=True)  # D2 fails after writing part of its output
    first = runner(cloud, athena, time, "a").run(deadline(time))

    assert (first.succeeded, first.failed) == ([], [batch_id])
    d2_prefix = output_prefix("compacted/", batch_id, D2)
    assert cloud.keys(d2_prefix) == []  # the failed CTAS wrote only below the result location
    assert cloud.store.lease(batch_id) is None  # another invocation may retry it later
    assert cloud.store.slot_holder(f"{D2}T12") is None  # other batches may run meanwhile
    assert cloud.store.open_batch_ids(time.now) == []  # waits out the retry delay
    batch = cloud.store.load_batch(batch_id)
    assert batch.attempts == 1
    assert "HIVE_BAD_DATA" in batch.last_error
    assert tags(cloud, raw_object(0).key) == []  # not compacted yet: lifecycle keeps it

    time.new_invocation(later_s=retry_delay(0).total_seconds())
    second = runner(cloud, athena, time, "b").run(deadline(time))

    assert second.succeeded == [batch_id]
    ctas = athena.started("ctas")
    assert len(athena.started("discover")) == 1  # the dates were recorded
    assert [reading_date(q) for q in ctas] == [D1, D2, D2]  # D1 was done and is not redone
    assert ctas[1].token != ctas[2].token  # a new attempt is a new query
    assert cloud.keys(d2_prefix) == [f"{d2_prefix}{ctas[2].query_id}-{p}.parquet" for p in (0, 1)]
    assert tables(cloud) == set()
    assert cloud.store.load_batch(batch_id).status == SUCCEEDED


def test_out_of_time_leaves_the_batch_running_and_the_next_invocation_finishes_it(
    cloud, athena, time
):
    batch_id = claim_batch(cloud, time, 0, 3, 1)
    athena.slow_next("ctas", polls=40)
    time.remaining = 30_000  # the invocation has 30 s left
    first = runner(cloud, athena, time, "a").run(deadline(time))

    assert first.unfinished == batch_id
    assert time.remaining >= 5_000 - 1  # stopped before the reserve
    batch = cloud.store.load_batch(batch_id)
    [running] = athena.started("ctas")
    assert batch.step(f"ctas:{D1}").query_id == running.query_id
    assert cloud.store.lease(batch_id).owner == "a"
    assert cloud.store.slot_holder(f"{D1}T12") == batch_id

    # Another invocation while the lease lasts (still inside the first one's time) does nothing.
    time.new_invocation()
    assert runner(cloud, athena, time, "b").run(deadline(time)).succeeded == []
    assert len(athena.started()) == 2

    # After the lease has ended, the scheduled invocation resumes the same query.
    time.new_invocation(later_s=60)
    third = runner(cloud, athena, time, "c").run(deadline(time))
    assert third.succeeded == [batch_id]
    assert [q.kind for q in athena.started()] == ["discover", "ctas", "ctas"]  # D1 not restarted
    assert cloud.store.load_batch(batch_id).status == SUCCEEDED


def test_batches_run_one_at_a_time_in_claim_order(cloud, athena, time):
    first = claim_batch(cloud, time, 0, 2, 1)
    second = claim_batch(cloud, time, 2, 2, 2)
    athena.dates = [D1]
    report = runner(cloud, athena, time, "a").run(deadline(time))
    assert report.succeeded == [first, second]
    first_key = raw_object(0).key
    kinds_per_batch = [(q.kind, first_key in q.sql) for q in athena.started()]
    assert kinds_per_batch == [
        ("discover", True),
        ("ctas", True),
        ("discover", False),
        ("ctas", False),
    ]


class CrashAfterStart:
    """Athena accepts the query, then the invocation dies before it records the query id."""

    def __init__(self, athena):
        self.athena = athena
        self.crashed = False

    def start(self, sql, token):
        query_id = self.athena.start(sql, token)
        if sql.startswith("CREATE TABLE") and not self.crashed:
            self.crashed = True
            raise ConnectionError("connection reset after the request was sent")
        return query_id

    def status(self, query_id):
        return self.athena.status(query_id)

    def rows(self, query_id):
        return self.athena.rows(query_id)


def test_a_crash_after_starting_a_query_resumes_that_query_not_a_second_one(cloud, athena, time):
    athena.dates = [D1]
    batch_id = claim_batch(cloud, time, 0, 2, 1)
    other = claim_batch(cloud, time, 2, 2, 2)
    with pytest.raises(ConnectionError):
        runner(cloud, CrashAfterStart(athena), time, "a").run(deadline(time))
    lease = cloud.store.lease(batch_id)
    assert lease.owner == "a"
    assert lease.lease_until_ms <= time.now.timestamp() * 1000  # resumable at once
    assert cloud.store.slot_holder(f"{D1}T12") == batch_id  # the next batch of D1 12:00 waits

    report = runner(cloud, athena, time, "b").run(deadline(time))
    assert report.succeeded == [batch_id, other]  # the crashed batch first, then the next
    ctas_of_batch = [q for q in athena.started("ctas") if f"'{batch_id}' AS batch_id" in q.sql]
    assert len(ctas_of_batch) == 1  # same token, same query


class TakenOverDuringWait:
    """While this invocation waits, its lease is taken over (it was thought to be dead)."""

    def __init__(self, athena, store, time):
        self.athena, self.store, self.time = athena, store, time
        self.done = False

    def start(self, sql, token):
        return self.athena.start(sql, token)

    def status(self, query_id):
        if not self.done:
            self.done = True
            [batch_id] = self.store.open_batch_ids(self.time.now)
            lease = self.store.lease(batch_id)
            assert self.store.take_lease(batch_id, "usurper", 10**15, lease)
        return self.athena.status(query_id)

    def rows(self, query_id):
        return self.athena.rows(query_id)


def test_an_invocation_that_lost_its_lease_stops_writing(cloud, athena, time):
    batch_id = claim_batch(cloud, time, 0, 2, 1)
    report = runner(cloud, TakenOverDuringWait(athena, cloud.store, time), time, "a").run(
        deadline(time)
    )
    assert report.succeeded == []
    assert cloud.store.lease(batch_id).owner == "usurper"
    batch = cloud.store.load_batch(batch_id)
    assert batch.dates is None  # nothing written after the takeover
    assert batch.status != SUCCEEDED


def test_the_temporary_table_of_an_earlier_attempt_is_dropped_before_the_ctas(cloud, athena, time):
    athena.dates = [D1]
    batch_id = claim_batch(cloud, time, 0, 2, 1)
    leftover = temporary_table(batch_id, D1)
    cloud.glue.create_table(DatabaseName="sensor_pipeline", TableInput={"Name": leftover})
    prefix = output_prefix("compacted/", batch_id, D1)
    cloud.s3.put_object(Bucket="sensor-data", Key=f"{prefix}stale.parquet", Body=b"x")
    assert runner(cloud, athena, time, "a").run(deadline(time)).succeeded == [batch_id]
    [ctas] = athena.started("ctas")
    assert cloud.keys(prefix) == [f"{prefix}{ctas.query_id}-{p}.parquet" for p in (0, 1)]
    assert tables(cloud) == set()


class CrashDuringCopy(AwsBatchFiles):
    """The invocation dies after copying the first file of a CTAS table."""

    def __init__(self, s3, glue):
        super().__init__(s3, glue)
        self.copies = 0

    def copy_prefix(self, source, bucket, prefix):
        source_bucket, source_prefix = source[5:].split("/", 1)
        keys = self._s3.list_objects_v2(Bucket=source_bucket, Prefix=source_prefix)["Contents"]
        first = keys[0]["Key"]
        self._s3.copy_object(
            Bucket=bucket,
            Key=prefix + first.rsplit("/", 1)[1],
            CopySource={"Bucket": source_bucket, "Key": first},
        )
        raise TimeoutError("the invocation ran out of time mid-copy")


def test_an_interrupted_copy_is_redone_from_scratch_without_rerunning_the_query(
    cloud, athena, time
):
    athena.dates = [D1]
    batch_id = claim_batch(cloud, time, 0, 2, 1)
    crashing = Runner(
        cloud.store,
        athena,
        CrashDuringCopy(cloud.s3, cloud.glue),
        cloud.settings,
        time.clock,
        owner="a",
    )
    with pytest.raises(TimeoutError):
        crashing.run(deadline(time))
    prefix = output_prefix("compacted/", batch_id, D1)
    assert len(cloud.keys(prefix)) == 1  # half a batch folder
    state = cloud.store.load_batch(batch_id).step(f"ctas:{D1}")
    assert state.source is not None and not state.copied

    report = runner(cloud, athena, time, "b").run(deadline(time))
    assert report.succeeded == [batch_id]
    [ctas] = athena.started("ctas")  # the query was not run again
    assert cloud.keys(prefix) == [f"{prefix}{ctas.query_id}-{p}.parquet" for p in (0, 1)]
    assert cloud.keys("tables/", bucket=RESULTS_BUCKET) == []


@pytest.mark.parametrize(
    ("second_seconds", "waits", "reads_first"),
    [
        ([f"{D1}T13:00:00"], False, False),  # another hour: side by side
        ([f"{D1}T12:00:02"], True, False),  # same hour: waits, but no second in common
        ([f"{D1}T12:30:00", f"{D1}T12:59:59"], True, True),  # a second in common: reads it
    ],
)
def test_batches_of_other_hours_run_side_by_side_and_of_the_same_hour_one_after_the_other(
    cloud, athena, time, second_seconds, waits, reads_first
):
    first = claim_batch(cloud, time, 0, 2, 1)
    second = claim_batch(cloud, time, 2, 2, 2)
    athena.next_seconds = [[f"{D1}T12:00:00", f"{D1}T12:00:01", f"{D1}T12:30:00"], second_seconds]
    athena.slow_next("ctas", polls=40)
    time.remaining = 30_000
    assert runner(cloud, athena, time, "a").run(deadline(time)).unfinished == first

    # While the first invocation's lease lasts, another one takes the next batch.
    time.new_invocation()
    other = runner(cloud, athena, time, "b").run(deadline(time))
    if waits:
        assert (other.succeeded, other.blocked) == ([], [second])
        assert cloud.store.lease(second) is None  # free for whoever comes next
        assert cloud.store.load_batch(second).dates == (D1,)  # its discover is kept
    else:
        assert (other.succeeded, other.blocked) == ([second], [])

    time.new_invocation(later_s=60)
    last = runner(cloud, athena, time, "c").run(deadline(time))
    assert last.succeeded == ([first, second] if waits else [first])
    assert cloud.store.load_batch(second).status == SUCCEEDED
    [first_ctas, second_ctas] = [
        next(q for q in athena.started("ctas") if f"'{b}' AS batch_id" in q.sql)
        for b in (first, second)
    ]
    first_files = output_prefix("compacted/", first, D1)
    assert "NOT EXISTS" not in first_ctas.sql
    assert (first_files in second_ctas.sql) is reads_first
    assert ("NOT EXISTS" in second_ctas.sql) is reads_first
