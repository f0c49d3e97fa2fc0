"""The local Kinesis: kinesalite behind the moto server's endpoint, which checks IAM first;
its streams and records outlive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.core.aws import ACCOUNT_ID, CREDENTIALS, arn
from localcloud.kinesis.kinesalite import KinesaliteServer
from localcloud.moto.server import MotoServer
from tests.conftest import role_session

pytestmark = pytest.mark.integration


@pytest.fixture
def kinesis_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    with (
        KinesaliteServer(path=tmp_path / "kinesis") as kinesalite,
        MotoServer(kinesis_upstream=kinesalite.endpoint) as moto,
    ):
        for key, value in {**moto.env(), **CREDENTIALS}.items():
            monkeypatch.setenv(key, value)
        yield moto


def test_streams_are_kinesalites_with_the_local_accounts_arns(kinesis_cloud):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName="readings")
    summary = kinesis.describe_stream_summary(StreamName="readings")["StreamDescriptionSummary"]
    assert summary["StreamARN"] == arn("kinesis", "stream/readings")
    assert f":{ACCOUNT_ID}:" in summary["StreamARN"]
    assert summary["OpenShardCount"] == 2
    # moto's own Kinesis does not have it: the request went to kinesalite
    assert boto3.client("kinesis").list_streams()["StreamNames"] == ["readings"]


def test_a_role_session_may_do_what_its_policy_allows_on_the_stream(kinesis_cloud):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    kinesis.create_stream(StreamName="other", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="other")
    stream = arn("kinesis", "stream/readings")
    session = role_session(
        [
            {
                "Effect": "Allow",
                "Action": ["kinesis:PutRecord", "kinesis:ListShards"],
                "Resource": stream,
            }
        ]
    )
    client = session.client("kinesis")
    client.put_record(StreamName="readings", Data=b"x", PartitionKey="k")
    client.list_shards(StreamName="readings")
    for call, kwargs in (
        (
            client.put_records,
            {"StreamName": "readings", "Records": [{"Data": b"x", "PartitionKey": "k"}]},
        ),
        (client.put_record, {"StreamName": "other", "Data": b"x", "PartitionKey": "k"}),
    ):
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        error = caught.value.response["Error"]
        assert error["Code"] == "AccessDeniedException", error
        assert "is not authorized to perform: kinesis:" in error["Message"]
        assert "assumed-role/fn-role/fn" in error["Message"]
    # what was refused was never written
    shard = kinesis.list_shards(StreamName="other")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="other", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert kinesis.get_records(ShardIterator=iterator)["Records"] == []


def test_an_unknown_key_is_refused(kinesis_cloud):
    client = boto3.client(
        "kinesis", aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x"
    )
    with pytest.raises(ClientError) as caught:
        client.list_streams()
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_a_stream_named_by_its_arn(kinesis_cloud):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="readings")
    stream = arn("kinesis", "stream/readings")
    put = kinesis.put_record(StreamARN=stream, Data=b"by-arn", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamARN=stream, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [
        b"by-arn"
    ]


def test_records_outlive_a_restart_of_kinesalite(tmp_path, monkeypatch):
    def run(action):
        with (
            KinesaliteServer(path=tmp_path / "kinesis") as kinesalite,
            MotoServer(kinesis_upstream=kinesalite.endpoint) as moto,
        ):
            for key, value in {**moto.env(), **CREDENTIALS}.items():
                monkeypatch.setenv(key, value)
            return action(boto3.client("kinesis"))

    def put(kinesis):
        kinesis.create_stream(StreamName="readings", ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(StreamName="readings")
        kinesis.put_records(
            StreamName="readings",
            Records=[{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(500)],
        )

    def read(kinesis):
        shard = kinesis.list_shards(StreamName="readings")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName="readings", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return [int(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]

    run(put)
    assert run(read) == list(range(500))
