"""The compactor under S3's at-least-once delivery, eight racing invocations and a crash mid-batch,
ending with a full accounting (`make test-full`).

The device publishes through the whole pipeline; S3 notifies the cloud's compactor of every raw
object once (through SQS, as the local cloud wires it), and this test delivers each of those
ObjectCreated events twice more, to eight invocations running at the same time: every event
reaches the compactor three times. When the tail batch is due the eight invocations race for it
with the schedule's event; the one that drives the batch crashes right after copying a CTAS
table's files into the batch's folder and before recording the copy (an exception mid-batch).
Later invocations resume the batch. Every reading ends up in the compacted table exactly once.

An invocation here is the compactor's own code (`compactor.wiring.build_compactor`, the service
the Lambda handler calls) against the local cloud's moto and Athena endpoints, one instance per
thread like one Lambda execution environment each. Only the fault is added: the batch-files
client of every invocation shares a one-shot crash. The cloud runs with the schedule at its
longest (60 minutes) and fewer objects than the claim threshold, so after publishing nothing but
these invocations drives compaction: the crash is certain to hit the batch.
"""

from __future__ import annotations

import datetime as dt
import itertools
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from faults_support import (
    Account,
    say,
    scenario_pipeline,
    settle,
    wait_for,
)

from compactor.service import Summary
from compactor.waiting import Deadline
from compactor.wiring import build_compactor
from localcloud.core.aws import REGION
from localcloud.lambda_.s3 import complete_s3_event, s3_event_key
from localcloud.lambda_.sources import scheduled_event

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

THING = "fault-compactor"
ROWS = 300
RATE = 40  # readings per second: several seconds, so several raw objects (1 s buffers)
RACERS = 8
DELIVERIES = 3  # S3 delivers each event this many times: once through SQS, twice more here
FUNCTION_TIMEOUT_S = 300  # the compactor's timeout in the template


class InjectedCrash(RuntimeError):
    """The fault: an invocation dies in the middle of a batch."""


class CrashOnce:
    """Shared by every invocation's batch files: the first copy into a batch folder completes,
    then that invocation raises before the compactor records the copy."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fired: list[str] = []

    def after_copy(self, prefix: str) -> None:
        with self.lock:
            if self.fired:
                return
            self.fired.append(prefix)
        raise InjectedCrash(f"crashed after copying into {prefix}, before recording it")


class CrashingFiles:
    """The compactor's batch-files client with the crash after a copy."""

    def __init__(self, files: Any, crash: CrashOnce) -> None:
        self._files = files
        self._crash = crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._files, name)

    def copy_prefix(self, source: str, bucket: str, prefix: str) -> int:
        copied = self._files.copy_prefix(source, bucket, prefix)
        self._crash.after_copy(prefix)
        return int(copied)


class Invocation:
    """One execution environment of the compactor: its own clients and state, reused."""

    def __init__(self, env: dict[str, str], crash: CrashOnce) -> None:
        self.compactor = build_compactor(env)
        self.compactor.runner.files = CrashingFiles(self.compactor.runner.files, crash)
        self.summaries: list[Summary] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> None:
        """What the handler does for one invocation: a lease owner of its own, its time limit."""
        with self.lock:
            self.compactor.runner.owner = secrets.token_hex(8)
            started = time.monotonic()
            deadline = Deadline(
                lambda: int((FUNCTION_TIMEOUT_S - (time.monotonic() - started)) * 1000)
            )
            try:
                self.summaries.append(self.compactor.handle(event, deadline))
            except Exception as err:
                self.errors.append(err)


def object_created(bucket: str, item: dict[str, Any], number: int) -> dict[str, Any]:
    """The ObjectCreated:Put notification S3 sends for a listed object."""
    created = item["LastModified"].astimezone(dt.UTC)
    record = {
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "redelivered-by-the-test",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": s3_event_key(item["Key"]),
                "size": item["Size"],
                "eTag": item["ETag"].strip('"'),
            },
        },
    }
    return complete_s3_event({"Records": [record]}, number)


def raw_objects(bucket: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="raw/")
    return [item for page in pages for item in page.get("Contents", [])]


class Redelivery:
    """Watches raw/ and hands every new object's event to two different invocations, each on
    its own thread, while the device publishes."""

    def __init__(self, bucket: str, invocations: list[Invocation]) -> None:
        self.bucket = bucket
        self.invocations = invocations
        self.queues: list[queue.Queue[dict[str, Any] | None]] = [queue.Queue() for _ in invocations]
        self.seen: dict[str, dict[str, Any]] = {}
        self.numbers = itertools.count(1)
        self.turn = itertools.cycle(range(len(invocations)))
        self.threads = [
            threading.Thread(target=self._work, args=(i,), daemon=True)
            for i in range(len(invocations))
        ]

    def _work(self, index: int) -> None:
        while (event := self.queues[index].get()) is not None:
            self.invocations[index].invoke(event)

    def start(self) -> Redelivery:
        for thread in self.threads:
            thread.start()
        return self

    def poll(self) -> None:
        for item in raw_objects(self.bucket):
            if item["Key"] in self.seen:
                continue
            self.seen[item["Key"]] = item
            for _ in range(DELIVERIES - 1):
                event = object_created(self.bucket, item, next(self.numbers))
                self.queues[next(self.turn)].put(event)

    def stop(self) -> None:
        for q in self.queues:
            q.put(None)
        for thread in self.threads:
            thread.join(timeout=FUNCTION_TIMEOUT_S)


def race(invocations: list[Invocation], event: Callable[[], dict[str, Any]]) -> None:
    """Every invocation handles `event()` at the same moment."""
    barrier = threading.Barrier(len(invocations))

    def go(invocation: Invocation) -> None:
        barrier.wait()
        invocation.invoke(event())

    threads = [threading.Thread(target=go, args=(i,)) for i in invocations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=FUNCTION_TIMEOUT_S)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with scenario_pipeline(
        tmp_path_factory, "compactor", compactionScheduleMinutes=60, compactionThreshold=98
    ) as running:
        yield running


@pytest.fixture(scope="module")
def raced(pipeline):
    names = pipeline.names
    crash = CrashOnce()
    invocations = [Invocation(names.compactor_env, crash) for _ in range(RACERS)]
    redelivery = Redelivery(names.bucket, invocations).start()
    publisher = pipeline.publisher(THING, ROWS, rate=RATE).start()
    try:

        def published() -> bool:
            redelivery.poll()
            return publisher.ended()

        wait_for(published, 120, "the device publishes", 0.3)
        publisher.finish()
        expected = settle(pipeline, publisher)
        redelivery.poll()
    finally:
        redelivery.stop()
    objects = list(redelivery.seen.values())
    threshold = int(names.compactor_env["COMPACTION_THRESHOLD"])
    say(f"{len(objects)} raw objects, each delivered {DELIVERIES} times")
    assert 2 <= len(objects) < threshold, "the scenario needs a tail batch of several objects"

    # The tail is due when its oldest object is COMPACTION_MAX_AGE_MINUTES old.
    oldest = min(item["LastModified"] for item in objects)
    max_age = dt.timedelta(minutes=int(names.compactor_env["COMPACTION_MAX_AGE_MINUTES"]))
    wait_for(
        lambda: dt.datetime.now(dt.UTC) > oldest + max_age + dt.timedelta(seconds=1),
        max_age.total_seconds() + 30,
        "the tail batch is due",
        1,
    )
    rounds = 0

    def compacted() -> bool:
        nonlocal rounds
        rounds += 1
        say(f"race {rounds}: {RACERS} scheduled invocations at once")
        race(invocations, lambda: scheduled_event(names.schedule_rule_arn))
        return any(s.succeeded for i in invocations for s in i.summaries)

    wait_for(compacted, 240, "a racing invocation finishes the batch", 1)
    return invocations, crash, objects, Account.of(pipeline, THING, expected)


def test_every_reading_is_compacted_exactly_once(raced):
    *_, account = raced
    account.assert_complete()


def batches_in_state_table(pipeline) -> list[str]:
    """Every batch ever claimed, from the state table (athena/compaction.md): an invocation that
    crashes returns no summary, so its claim is seen only there."""
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=pipeline.names.compactor_env["STATE_TABLE"],
            FilterExpression="begins_with(pk, :batch) AND sk = :batch_sk",
            ExpressionAttributeValues={":batch": {"S": "batch#"}, ":batch_sk": {"S": "batch"}},
        )
    )
    return [item["pk"]["S"].removeprefix("batch#") for page in pages for item in page["Items"]]


def test_the_batch_crashed_mid_way_and_was_resumed(pipeline, raced):
    invocations, crash, *_ = raced
    errors = [err for i in invocations for err in i.errors]
    assert len(crash.fired) == 1, "the crash did not happen"
    assert len(errors) == 1 and isinstance(errors[0], InjectedCrash), errors
    claimed = batches_in_state_table(pipeline)
    assert len(claimed) == 1, f"the racing invocations claimed the tail {len(claimed)} times"
    reported = [b for i in invocations for s in i.summaries for b in s.claimed]
    assert set(reported) <= set(claimed)
    succeeded = [b for i in invocations for s in i.summaries for b in s.succeeded]
    assert succeeded == claimed


def test_each_object_is_counted_once_whatever_the_deliveries(pipeline, raced):
    invocations, _, objects, _ = raced
    s3_summaries = [s for i in invocations for s in i.summaries if s.kind == "s3"]
    assert len(s3_summaries) == (DELIVERIES - 1) * len(objects)
    counted = sum(s.counted for s in s3_summaries)
    duplicates = sum(s.duplicates for s in s3_summaries)
    assert counted + duplicates == (DELIVERIES - 1) * len(objects)
    assert sum(s.rejected for s in s3_summaries) == 0
    # The state table (athena/compaction.md) holds one `object#<key>` item per counted object:
    # whichever delivery came first counted it, the cloud's (through SQS) or one of these.
    table = pipeline.names.compactor_env["STATE_TABLE"]
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            FilterExpression="begins_with(pk, :object)",
            ExpressionAttributeValues={":object": {"S": "object#"}},
        )
    )
    counted_keys = [item["pk"]["S"] for page in pages for item in page["Items"]]
    assert sorted(counted_keys) == sorted(f"object#{item['Key']}" for item in objects)
