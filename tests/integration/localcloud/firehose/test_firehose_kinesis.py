"""Reading every shard of a moto Kinesis stream with checkpoints, including read failures."""

import datetime as dt
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.kinesis.consumer import (
    CheckpointStore,
    KinesisSource,
    consumer_client,
    epoch_timestamp,
    last_sequence_by_shard,
)

pytestmark = pytest.mark.integration

STREAM = "sensor-stream"


class FailingOnce:
    """The real client, except that GetRecords on one shard fails the first time."""

    def __init__(self, client, shard_id):
        self._client = client
        self._shard_id = shard_id
        self._iterators = {}
        self.failed = False

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get_shard_iterator(self, **kwargs):
        response = self._client.get_shard_iterator(**kwargs)
        self._iterators[response["ShardIterator"]] = kwargs["ShardId"]
        return response

    def get_records(self, **kwargs):
        if not self.failed and self._iterators.get(kwargs["ShardIterator"]) == self._shard_id:
            self.failed = True
            error = {"Error": {"Code": "InternalFailure", "Message": "injected"}}
            raise ClientError(error, "GetRecords")
        response = self._client.get_records(**kwargs)
        if response.get("NextShardIterator"):
            self._iterators[response["NextShardIterator"]] = self._iterators.get(
                kwargs["ShardIterator"]
            )
        return response


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    for n in range(20):
        client.put_record(StreamName=STREAM, Data=json.dumps({"n": n}), PartitionKey=f"k{n}")
    return client


def shards_with_records(kinesis):
    shards = kinesis.list_shards(StreamName=STREAM)["Shards"]
    return [s["ShardId"] for s in shards]


def test_every_shard_is_read_in_order_with_arrival_times(kinesis, tmp_path):
    source = KinesisSource(kinesis, STREAM, CheckpointStore(tmp_path / "cp.json"))
    records = source.read()
    assert sorted(json.loads(r.data)["n"] for r in records) == list(range(20))
    by_shard = {}
    for record in records:
        by_shard.setdefault(record.shard_id, []).append(int(record.sequence_number))
        assert record.arrival.tzinfo is not None
    assert len(by_shard) == 2
    assert all(seqs == sorted(seqs) for seqs in by_shard.values())
    assert source.read() == []


def test_the_consumer_client_reads_the_same_records_and_instants_in_utc(kinesis, tmp_path):
    default = KinesisSource(kinesis, STREAM, CheckpointStore(tmp_path / "a.json")).read()
    fast = KinesisSource(consumer_client(), STREAM, CheckpointStore(tmp_path / "b.json")).read()
    assert [(r.shard_id, r.sequence_number, r.data) for r in fast] == [
        (r.shard_id, r.sequence_number, r.data) for r in default
    ]
    assert [r.arrival for r in fast] == [r.arrival for r in default]  # the same instants
    assert all(r.arrival.utcoffset() == dt.timedelta(0) for r in fast)
    assert [r.arrival_ms for r in fast] == [r.arrival_ms for r in default]


def test_epoch_timestamps_become_utc_and_other_forms_are_parsed_as_botocore_does():
    assert epoch_timestamp(1714564800.123) == dt.datetime(2024, 5, 1, 12, 0, 0, 123000, dt.UTC)
    assert epoch_timestamp(1714564800) == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    parsed = epoch_timestamp("2024-05-01T12:00:00Z")
    assert parsed == dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="Invalid timestamp"):
        epoch_timestamp("not a time")


def test_a_failing_shard_does_not_cost_the_other_shards_records(kinesis, tmp_path):
    failing_shard = shards_with_records(kinesis)[1]
    client = FailingOnce(kinesis, failing_shard)
    source = KinesisSource(client, STREAM, CheckpointStore(tmp_path / "cp.json"))
    first = source.read()
    assert client.failed
    assert source.read_errors == 1
    assert {r.shard_id for r in first} == {shards_with_records(kinesis)[0]}
    second = source.read()
    assert {r.shard_id for r in second} == {failing_shard}
    assert sorted(json.loads(r.data)["n"] for r in first + second) == list(range(20))


def test_commit_persists_and_a_new_reader_starts_after_it(kinesis, tmp_path):
    store_path = tmp_path / "cp.json"
    source = KinesisSource(kinesis, STREAM, CheckpointStore(store_path))
    records = source.read()
    # the readings were put in order, so n < 10 is a prefix of each shard
    positions = last_sequence_by_shard(r for r in records if json.loads(r.data)["n"] < 10)
    source.commit(positions)
    saved = json.loads(store_path.read_text())
    assert saved["shards"] == positions
    assert saved["stream"].startswith("arn:aws:kinesis:us-east-1:123456789012:stream/")

    again = KinesisSource(kinesis, STREAM, CheckpointStore(store_path)).read()
    assert sorted(json.loads(r.data)["n"] for r in again) == list(range(10, 20))


def test_an_unreadable_checkpoint_file_is_an_error_not_a_silent_restart(kinesis, tmp_path):
    store_path = tmp_path / "cp.json"
    store_path.write_text("{not json")
    with pytest.raises(RuntimeError, match="unreadable"):
        KinesisSource(kinesis, STREAM, CheckpointStore(store_path))
