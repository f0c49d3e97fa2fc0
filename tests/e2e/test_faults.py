"""Faults while readings flow, each ending with a full accounting of the device that published.

One local cloud for the module; each scenario publishes as its own thing with the device
publisher (`python -m device publish`, a real process with its own spool) and ends with: every
reading the device published is in raw/ at least once, in the compacted table exactly once
(queried through the Athena API), in search exactly once per hourly index it was delivered to
(a repeat delivered in another hour is counted and printed), and nothing of it under
errors/invalid/.

- `make test`: the broker goes down while the device publishes and comes back; the publisher is
  SIGKILLed mid-stream and restarted on the same spool. Their last objects are compacted by
  asking the compactor to compact what is pending (compact-pending) instead of waiting a minute
  for the schedule's tail, which the slow scenarios below still wait for.
- `make test-full` also: the topic rule engine is stopped (unacknowledged messages stay in its
  persistent session at the broker) and a new one started; both Firehose delivery workers are
  killed (their buffers lost) and new ones resume from the checkpoints on disk.
"""

from __future__ import annotations

import time

import boto3
import pytest
from faults_support import (
    Account,
    Pipeline,
    Publisher,
    say,
    scenario_pipeline,
    settle,
    wait_for,
)

from localcloud.firehose.resources import Firehose
from localcloud.iot.resources import IotCore, IotRules

pytestmark = pytest.mark.e2e

ROWS = 300
RATE = 100  # readings per second: a few seconds of stream, long enough to break it mid-way


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with scenario_pipeline(tmp_path_factory, "faults") as running:
        yield running


def account(
    pipeline: Pipeline, publishers: list[Publisher], *, tail: bool = True
) -> dict[str, Account]:
    """Every reading of each publisher delivered and compacted; `tail`: the last objects are
    compacted by the schedule once due (the slow scenarios), else by compact-pending."""
    expected = {p.thing: settle(pipeline, p) for p in publishers}
    for thing, seqs in expected.items():
        pipeline.wait_compacted(thing, len(seqs), tail=tail)
    return {thing: Account.of(pipeline, thing, seqs) for thing, seqs in expected.items()}


# --- make test: the broker and the device ------------------------------------------------------


def broker_outage(pipeline: Pipeline) -> Publisher:
    broker = pipeline.cloud.service(IotCore).broker
    assert broker is not None
    publisher = pipeline.publisher("fault-broker", ROWS, rate=RATE).start()
    publisher.wait_pubacks(ROWS // 4)
    broker.stop()
    say(f"broker stopped after {publisher.pubacks()} PUBACKs")
    wait_for(
        lambda: publisher.status().get("connection") == "disconnected",
        60,
        "the publisher notices the outage",
        0.2,
        publisher.status,
    )
    time.sleep(2)  # down for a while: the publisher keeps its readings in the spool
    backlog = publisher.status()["backlog"]
    broker.start()
    say(f"broker back with {backlog} readings in the device's spool")
    assert backlog > 0, "the outage did not happen mid-stream"
    publisher.finish()
    return publisher


def publisher_killed(pipeline: Pipeline) -> Publisher:
    publisher = pipeline.publisher("fault-publisher", ROWS, rate=RATE).start()
    publisher.wait_pubacks(ROWS // 3)
    publisher.kill()
    backlog = publisher.status()["backlog"]
    say(f"publisher SIGKILLed with {backlog} readings not acknowledged")
    assert backlog > 0, "the kill did not happen mid-stream"
    publisher.start()  # the same spool: first what the killed run left, then its own replay
    publisher.finish()
    return publisher


@pytest.fixture(scope="module")
def device_faults(pipeline):
    publishers = [broker_outage(pipeline), publisher_killed(pipeline)]
    return publishers, account(pipeline, publishers, tail=False)  # the slow ones wait for it


def test_broker_down_while_publishing_loses_nothing(device_faults):
    (publisher, _), accounts = device_faults
    accounts["fault-broker"].assert_complete()
    assert publisher.runs == 1
    assert "disconnected" in publisher.log.read_text()


def test_publisher_killed_mid_stream_and_restarted_loses_nothing(device_faults):
    (_, publisher), accounts = device_faults
    account_ = accounts["fault-publisher"]
    account_.assert_complete()
    assert publisher.runs == 2
    # Both runs replayed the whole file; what the killed run had spooled was sent afterwards.
    assert len(account_.expected) > ROWS


# --- make test-full: the rule engine and the Firehose workers ----------------------------------


def rule_engine_restarted(pipeline: Pipeline) -> Publisher:
    rules = pipeline.cloud.service(IotRules)
    publisher = pipeline.publisher("fault-rules", ROWS, rate=RATE).start()
    publisher.wait_pubacks(ROWS // 4)
    rules.crash_rule_engine()  # SIGKILL: what it had not acknowledged waits at the broker
    down_at = publisher.pubacks()
    # The broker keeps accepting the device's readings and queues them for the engine's session.
    publisher.wait_pubacks(down_at + ROWS // 4)
    say(f"rule engine down from {down_at} to {publisher.pubacks()} PUBACKs")
    rules.start_rule_engine()
    publisher.finish()
    return publisher


def kinesis_records(stream: str) -> int:
    """Every record in the stream, from the oldest (moto keeps them all)."""
    kinesis = boto3.client("kinesis")
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            total += len(page["Records"])
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return total


def firehose_workers_killed(pipeline: Pipeline) -> tuple[Publisher, dict[str, dict[str, int]]]:
    firehose = pipeline.cloud.service(Firehose)
    streams = (pipeline.names.raw_stream, pipeline.names.search_stream)
    publisher = pipeline.publisher("fault-firehose", ROWS, rate=RATE).start()
    publisher.wait_pubacks(ROWS // 4)
    killed = {name: firehose.workers[name] for name in streams}
    for name in streams:
        firehose.stop_delivery_worker(name)  # as a killed process: its buffer is gone
    down_at = publisher.pubacks()
    publisher.wait_pubacks(down_at + ROWS // 4)  # readings wait in Kinesis meanwhile
    for name in streams:
        firehose.start_delivery_worker(name)
    say(f"Firehose workers down from {down_at} to {publisher.pubacks()} PUBACKs")
    publisher.finish()
    return publisher, {name: worker.counters.snapshot() for name, worker in killed.items()}


@pytest.fixture(scope="module")
def pipeline_faults(pipeline):
    rules = rule_engine_restarted(pipeline)
    firehose, killed = firehose_workers_killed(pipeline)
    return killed, account(pipeline, [rules, firehose])


@pytest.mark.slow
def test_rule_engine_killed_and_restarted_loses_nothing(pipeline_faults):
    _, accounts = pipeline_faults
    accounts["fault-rules"].assert_complete()


@pytest.mark.slow
def test_firehose_workers_killed_and_restarted_lose_nothing(pipeline_faults):
    _, accounts = pipeline_faults
    accounts["fault-firehose"].assert_complete()


@pytest.mark.slow
def test_restarted_firehose_workers_resume_from_their_checkpoints(pipeline, pipeline_faults):
    """The new worker reads exactly the records after the killed one's last completed
    delivery: nothing before it again (no start from the oldest record), nothing skipped."""
    killed, _ = pipeline_faults
    workers = pipeline.cloud.service(Firehose).workers
    for name, before in killed.items():
        after = workers[name].counters.snapshot()
        completed = before["records_delivered"] + before["records_dropped"]
        completed += before["records_failed"]
        in_flight = before["records_in"] - completed
        total = kinesis_records(workers[name].config.source_stream_name)
        say(f"{name}: killed with {in_flight} records read and not delivered; stream {total}")
        assert after["records_in"] == total - completed
