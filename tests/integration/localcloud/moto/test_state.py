"""moto's data across restarts: saved on stop (and every second while it changes), put back
into the resources of the same names on restore, with the Kinesis consumers' checkpoints."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.core.aws import CREDENTIALS
from localcloud.kinesis.consumer import CheckpointStore, checkpoint_store
from localcloud.moto.server import MotoServer

pytestmark = pytest.mark.integration


def point_at(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**moto.env(), **CREDENTIALS}.items():
        monkeypatch.setenv(key, value)


def deploy(queue: bool = True) -> None:
    """What the template makes: a bucket, a table (and, later, the notification queue)."""
    boto3.client("s3").create_bucket(Bucket="data")
    boto3.client("dynamodb").create_table(
        TableName="counts",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if queue:
        boto3.client("sqs").create_queue(QueueName="events")


def checkpoints(moto: MotoServer) -> CheckpointStore:
    """The checkpoints of one consumer, as the delivery workers keep them."""
    return checkpoint_store(moto.checkpoints("firehose"), "raw")


def write_data(moto: MotoServer) -> None:
    boto3.client("s3").put_object(Bucket="data", Key="raw/a.json", Body=b"reading")
    boto3.client("dynamodb").put_item(
        TableName="counts", Item={"pk": {"S": "batch"}, "n": {"N": "7"}}
    )
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="events")["QueueUrl"], MessageBody="e")
    checkpoints(moto).save({"shardId-0": "42"})


def assert_data(moto: MotoServer) -> None:
    assert boto3.client("s3").get_object(Bucket="data", Key="raw/a.json")["Body"].read() == (
        b"reading"
    )
    item = boto3.client("dynamodb").get_item(TableName="counts", Key={"pk": {"S": "batch"}})
    assert item["Item"]["n"] == {"N": "7"}
    assert checkpoints(moto).load() == {"shardId-0": "42"}


@contextmanager
def first_run(state: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A server on `state`, restored (from nothing), deployed, with the data written."""
    with MotoServer(state=state) as moto:
        point_at(moto, monkeypatch)
        moto.restore()
        deploy()
        write_data(moto)
        yield moto


@contextmanager
def next_run(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MotoServer, dict[str, Any]]]:
    """The next server on `state`: deployed anew, then restored (with the restore's summary)."""
    with MotoServer(state=state) as moto:
        point_at(moto, monkeypatch)
        deploy()
        yield moto, moto.restore()


def test_data_is_kept_across_a_stop_and_put_back_on_restore(tmp_path: Path, monkeypatch):
    state = tmp_path / "state.pickle"
    with MotoServer(state=state) as moto:
        point_at(moto, monkeypatch)
        assert moto.restore()["restored"] is False  # nothing kept yet
        assert checkpoints(moto).load() == {}
        deploy()
        write_data(moto)
    with MotoServer(state=state) as moto:
        point_at(moto, monkeypatch)
        deploy(queue=False)
        summary = moto.restore()
        assert summary["restored"] is True
        assert summary["counts"]["s3 objects"] == 1
        assert summary["counts"]["dynamodb items"] == 1
        assert summary["waiting"] == ["sqs events"]
        assert_data(moto)
        # the queue is made after the restore (the local Lambda makes it when it starts)
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
        assert [m["Body"] for m in messages] == ["e"]


def test_a_killed_moto_keeps_what_its_last_snapshot_held(tmp_path: Path, monkeypatch):
    state = tmp_path / "state.pickle"
    with first_run(state, monkeypatch) as moto:
        deadline = time.monotonic() + 10
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the periodic snapshot (every second) after the last change
        assert moto._process is not None
        moto._process.kill()  # SIGKILL: no last snapshot
        moto._process.wait()
    with next_run(state, monkeypatch) as (moto, summary):
        assert summary["restored"] is True
        assert_data(moto)


def test_nothing_is_saved_before_the_restore(tmp_path: Path, monkeypatch):
    """A start that fails while deploying must not replace the last snapshot with an empty
    one."""
    state = tmp_path / "state.pickle"
    with first_run(state, monkeypatch):
        pass
    kept = state.read_bytes()
    with MotoServer(state=state) as moto:
        point_at(moto, monkeypatch)
        deploy()  # and the start fails here, before the restore
        assert moto.save() == {"saved": False}
    assert state.read_bytes() == kept


def test_a_message_in_flight_at_the_stop_is_received_again_at_once(tmp_path: Path, monkeypatch):
    """The poller that received it was the previous run's: the message must not wait out its
    visibility timeout (the compactor's is five and a half minutes) after the restart."""
    state = tmp_path / "state.pickle"
    with first_run(state, monkeypatch):
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=330)["Messages"]
        assert [m["Body"] for m in received] == ["e"]  # in flight when the server stops
    with next_run(state, monkeypatch):
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
        again = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=0, AttributeNames=["ApproximateReceiveCount"]
        )["Messages"]
        assert [m["Body"] for m in again] == ["e"]
        assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_second_sigterm_during_the_last_snapshot_does_not_hang_the_server(
    tmp_path: Path, monkeypatch
):
    """The kernel's SIGTERM when the local cloud dies and a stop can arrive together; the
    handler runs once (a re-entered handler deadlocked on the state lock)."""
    state = tmp_path / "state.pickle"
    with first_run(state, monkeypatch) as moto:
        process = moto._process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        time.sleep(0.001)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
    with next_run(state, monkeypatch) as (moto, summary):
        assert summary["restored"] is True
        assert_data(moto)
