"""The Kinesis event source mapping invoking a real local Lambda with moto's Kinesis and SQS."""

import base64
import json
import textwrap
import threading
import time

import boto3
import pytest

from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda
from localcloud.lambda_.kinesis import KinesisEventSource, KinesisMappingConfig

pytestmark = pytest.mark.integration

STREAM = "readings"
HANDLER = """
import base64
import json
import os


def once(marker):
    path = os.path.join(os.environ["MARKER_DIR"], marker)
    if os.path.exists(path):
        return False
    open(path, "w").close()
    return True


def lambda_handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    failures = []
    for record in event["Records"]:
        body = json.loads(base64.b64decode(record["kinesis"]["data"]))
        kind = body.get("kind")
        sequence = record["kinesis"]["sequenceNumber"]
        if kind == "poison":
            raise ValueError(f"cannot handle reading {body['n']}")
        if kind == "flaky-item" and once(sequence):
            failures.append({"itemIdentifier": sequence})
        if kind == "empty-id" and once(sequence):
            failures.append({"itemIdentifier": ""})
    return {"batchItemFailures": failures}
"""


@pytest.fixture
def function(aws, tmp_path):
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "recorder.py").write_text(textwrap.dedent(HANDLER))
    (tmp_path / "markers").mkdir()
    props = {
        "Handler": "recorder.lambda_handler",
        "Runtime": "python3.13",
        "Timeout": 30,
        "FunctionName": "alerter",
        "Environment": {
            "Variables": {
                "RECORD_FILE": str(tmp_path / "events.jsonl"),
                "MARKER_DIR": str(tmp_path / "markers"),
            }
        },
    }
    config = LambdaFunctionConfig.from_cfn_properties("Alerter", props, asset)
    fn = LocalLambda(config, aws.env(), log_path=tmp_path / "alerter.log")
    fn.record_file = tmp_path / "events.jsonl"
    yield fn
    fn.close()


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=STREAM)
    return client


@pytest.fixture
def dead_letters(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="alerter-failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def stream_arn(kinesis):
    return kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"][
        "StreamARN"
    ]


def mapping(kinesis, **overrides):
    props = {
        "EventSourceArn": stream_arn(kinesis),
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 10,
        **overrides,
    }
    return KinesisMappingConfig.from_cfn_properties(props, mapping_id="alerter-readings")


def source_for(function, config, tmp_path, **kwargs):
    return KinesisEventSource(
        function,
        config,
        tmp_path / "checkpoints",
        invoke_identity_arn="arn:aws:iam::123456789012:role/alerter",
        retry_delay_seconds=0,
        **kwargs,
    )


def put(kinesis, n, key="sensehat-01", kind="ok"):
    data = json.dumps({"n": n, "kind": kind}).encode()
    return kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=key)


def events(function):
    if not function.record_file.exists():
        return []
    return [json.loads(line) for line in function.record_file.read_text().splitlines()]


def batches(function):
    """Each invocation's readings, as their `n`."""
    return [
        [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]]
        for event in events(function)
    ]


def drain(source, rounds=60):
    """Poll until a whole round handles nothing."""
    for _ in range(rounds):
        if not source.poll_once():
            return
    raise AssertionError("the source kept working")


def test_events_have_the_lambda_shape_in_shard_order_and_batch_size(function, kinesis, tmp_path):
    put_results = [put(kinesis, n, key=f"thing-{n % 5}") for n in range(25)]
    arn = stream_arn(kinesis)
    source = source_for(function, mapping(kinesis, BatchSize=4), tmp_path)
    drain(source)
    received = [record for event in events(function) for record in event["Records"]]
    assert all(len(event["Records"]) <= 4 for event in events(function))
    assert len(received) == 25
    by_shard = {}
    for record in received:
        shard, sequence = record["eventID"].split(":")
        assert sequence == record["kinesis"]["sequenceNumber"]
        by_shard.setdefault(shard, []).append(int(sequence))
        assert record["eventSource"] == "aws:kinesis"
        assert record["eventName"] == "aws:kinesis:record"
        assert record["eventVersion"] == "1.0"
        assert record["eventSourceARN"] == arn
        assert record["awsRegion"] == "us-east-1"
        assert record["invokeIdentityArn"] == "arn:aws:iam::123456789012:role/alerter"
        assert record["kinesis"]["kinesisSchemaVersion"] == "1.0"
        assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
        assert record["kinesis"]["partitionKey"].startswith("thing-")
    assert all(seqs == sorted(seqs) for seqs in by_shard.values())
    expected = {(p["ShardId"], int(p["SequenceNumber"])) for p in put_results}
    assert {(s, q) for s, seqs in by_shard.items() for q in seqs} == expected
    assert source.stats.records_succeeded == 25
    assert source.poll_once() == 0


def test_partial_batch_response_resumes_at_the_failed_item(function, kinesis, tmp_path):
    for n in range(6):
        put(kinesis, n, kind="flaky-item" if n == 3 else "ok")
    config = mapping(kinesis, FunctionResponseTypes=["ReportBatchItemFailures"])
    source = source_for(function, config, tmp_path)
    drain(source)
    assert batches(function) == [[0, 1, 2, 3, 4, 5], [3, 4, 5]]
    assert source.stats.partial_failures == 1
    assert source.stats.records_succeeded == 6


def test_an_empty_item_identifier_fails_the_whole_batch(function, kinesis, tmp_path):
    for n in range(3):
        put(kinesis, n, kind="empty-id" if n == 2 else "ok")
    config = mapping(kinesis, FunctionResponseTypes=["ReportBatchItemFailures"])
    source = source_for(function, config, tmp_path)
    drain(source)
    assert batches(function) == [[0, 1, 2], [0, 1, 2]]


def test_a_failing_batch_is_retried_then_recorded_at_the_on_failure_queue(
    function, kinesis, dead_letters, tmp_path
):
    sqs, url, queue_arn = dead_letters
    results = [put(kinesis, n, kind="poison" if n == 1 else "ok") for n in range(3)]
    config = mapping(
        kinesis,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    source = source_for(function, config, tmp_path)
    drain(source)
    assert batches(function) == [[0, 1, 2]] * 3
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == function.arn
    assert record["requestContext"]["requestId"]
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    info = record["KinesisBatchInfo"]
    assert info["shardId"] == results[0]["ShardId"]
    assert info["startSequenceNumber"] == results[0]["SequenceNumber"]
    assert info["endSequenceNumber"] == results[2]["SequenceNumber"]
    assert info["batchSize"] == 3
    assert info["streamArn"] == stream_arn(kinesis)
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert info["approximateArrivalOfLastRecord"].endswith("Z")
    # the shard moved on
    put(kinesis, 3)
    drain(source)
    assert batches(function)[-1] == [3]
    assert source.checkpoints[results[0]["ShardId"]] != results[2]["SequenceNumber"]
    assert source.stats.batches_given_up == 1


def test_bisection_isolates_the_failing_record(function, kinesis, dead_letters, tmp_path):
    sqs, url, queue_arn = dead_letters
    results = [put(kinesis, n, kind="poison" if n == 1 else "ok") for n in range(4)]
    config = mapping(
        kinesis,
        MaximumRetryAttempts=0,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    source = source_for(function, config, tmp_path)
    drain(source)
    assert batches(function) == [[0, 1, 2, 3], [0, 1], [0], [1], [2, 3]]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == results[1]["SequenceNumber"]
    assert source.stats.records_succeeded == 3


def test_without_a_destination_an_exhausted_batch_is_discarded_and_counted(
    function, kinesis, tmp_path
):
    put(kinesis, 0, kind="poison")
    source = source_for(function, mapping(kinesis, MaximumRetryAttempts=1), tmp_path)
    drain(source)
    assert batches(function) == [[0], [0]]
    assert source.stats.records_discarded == 1


def test_checkpoints_survive_a_restart(function, kinesis, tmp_path):
    for n in range(5):
        put(kinesis, n)
    config = mapping(kinesis)
    drain(source_for(function, config, tmp_path))
    assert sorted(n for batch in batches(function) for n in batch) == list(range(5))
    for n in range(5, 7):
        put(kinesis, n)
    function.record_file.unlink()
    restarted = source_for(function, config, tmp_path)
    drain(restarted)
    assert sorted(n for batch in batches(function) for n in batch) == [5, 6]


def test_latest_skips_what_was_put_before_the_start(function, kinesis, tmp_path):
    put(kinesis, 0)
    source = source_for(function, mapping(kinesis, StartingPosition="LATEST"), tmp_path)
    stop = threading.Event()
    thread = source.start(stop)
    try:
        put(kinesis, 1)
        deadline = time.monotonic() + 20
        while not batches(function) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert batches(function) == [[1]]
