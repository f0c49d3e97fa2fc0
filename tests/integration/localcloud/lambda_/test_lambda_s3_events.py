"""S3 notifications (moto, through SQS) and SQS event sources invoking a local Lambda."""

import json
import textwrap
import threading
from urllib.parse import unquote_plus

import boto3
import pytest

from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda
from localcloud.lambda_.s3 import S3NotificationBridge
from localcloud.lambda_.sources import SqsEventSource, create_queue_with_dlq

pytestmark = pytest.mark.integration

BUCKET = "sensor-data"
HANDLER = """
import json
import os

import boto3


def lambda_handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    failures = []
    for record in event["Records"]:
        if record.get("eventSource") == "aws:s3":
            key = record["s3"]["object"]["key"]
            if "poison" in key:
                raise ValueError(f"cannot compact {key}")
            if "flaky" in key and not os.path.exists(os.environ["RECORD_FILE"] + ".flaky"):
                open(os.environ["RECORD_FILE"] + ".flaky", "w").close()
                raise RuntimeError("transient failure")
            # the function's own boto3 reaches the local cloud through the environment
            boto3.client("s3").head_object(
                Bucket=record["s3"]["bucket"]["name"],
                Key=__import__("urllib.parse").parse.unquote_plus(key),
            )
        elif record["body"] == "poison":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


@pytest.fixture
def function(aws, tmp_path):
    asset = tmp_path / "asset"
    (asset / "recorder").mkdir(parents=True)
    (asset / "recorder" / "__init__.py").write_text("")
    (asset / "recorder" / "handler.py").write_text(textwrap.dedent(HANDLER))
    record_file = tmp_path / "events.jsonl"
    props = {
        "Handler": "recorder.handler.lambda_handler",
        "Runtime": "python3.13",
        "Timeout": 30,
        "FunctionName": "compactor",
        "Environment": {"Variables": {"RECORD_FILE": str(record_file)}},
    }
    config = LambdaFunctionConfig.from_cfn_properties("Compactor", props, asset)
    fn = LocalLambda(config, aws.env(), log_path=tmp_path / "compactor.log")
    fn.record_file = record_file
    yield fn
    fn.close()


def received(function):
    if not function.record_file.exists():
        return []
    return [json.loads(line) for line in function.record_file.read_text().splitlines()]


def drain(source, rounds=20):
    """Poll until the queue has been empty for a whole receive."""
    for _ in range(rounds):
        if not source.poll_once(wait_seconds=0) and not source.poll_once(wait_seconds=1):
            return
    raise AssertionError("the queue never emptied")


@pytest.fixture
def bridge(function):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return S3NotificationBridge(
        BUCKET, function, prefix="raw/", retry_delays=(0, 0), queue_name="compactor-events"
    ).install()


def test_object_created_reaches_the_handler_as_s3_would_invoke_it(bridge, function):
    s3 = boto3.client("s3")
    key = "raw/dt=2024-05-01/hour=12/sensor raw-1-2024.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"12345")
    s3.put_object(Bucket=BUCKET, Key="errors/invalid/x.jsonl", Body=b"{}")  # outside the filter
    drain(bridge)

    (event,) = received(function)
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == BUCKET
    assert record["s3"]["object"]["key"] == "raw/dt%3D2024-05-01/hour%3D12/sensor+raw-1-2024.gz"
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert record["s3"]["object"]["size"] == 5
    assert record["s3"]["object"]["sequencer"]
    assert "Records" in event and "body" not in record  # unwrapped, not the SQS event


def test_the_bridge_keeps_the_bucket_s_other_notifications(bridge, function):
    sqs = boto3.client("sqs")
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3 = boto3.client("s3")
    config = s3.get_bucket_notification_configuration(Bucket=BUCKET)
    config.pop("ResponseMetadata")
    config["QueueConfigurations"].append(
        {"Id": "other", "QueueArn": other_arn, "Events": ["s3:ObjectRemoved:*"]}
    )
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)
    bridge.install()  # re-installing replaces only its own entry
    ids = sorted(
        q["Id"]
        for q in s3.get_bucket_notification_configuration(Bucket=BUCKET)["QueueConfigurations"]
    )
    assert ids == sorted(["other", bridge.notification_id])


def test_a_failed_event_is_retried_and_then_succeeds(bridge, function):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="raw/flaky.gz", Body=b"x")
    drain(bridge)
    keys = [e["Records"][0]["s3"]["object"]["key"] for e in received(function)]
    assert keys == ["raw/flaky.gz", "raw/flaky.gz"]
    assert bridge.dead_letters() == []
    assert bridge.source.failed == 1
    assert bridge.source.succeeded == 1


def test_an_event_failing_every_attempt_ends_in_the_dead_letter_queue(bridge, function):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="raw/poison.gz", Body=b"x")
    boto3.client("s3").put_object(Bucket=BUCKET, Key="raw/good.gz", Body=b"x")
    drain(bridge)
    attempts = [e["Records"][0]["s3"]["object"]["key"] for e in received(function)]
    assert attempts.count("raw/poison.gz") == 3  # the first invocation and two retries
    assert attempts.count("raw/good.gz") == 1
    (dead,) = bridge.dead_letters()
    assert dead["Records"][0]["s3"]["object"]["key"] == "raw/poison.gz"
    assert len(bridge.dead_letters()) == 1  # peeking leaves it there


def test_from_the_template_s_lambda_notification_configuration(function):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    bridge = S3NotificationBridge.from_lambda_configuration(
        BUCKET,
        {
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}},
            "LambdaFunctionArn": function.arn,
        },
        function,
        retry_delays=(0, 0),
    ).install()
    assert bridge.prefix == "raw/"
    boto3.client("s3").put_object(Bucket=BUCKET, Key="raw/a.gz", Body=b"x")
    boto3.client("s3").put_object(Bucket=BUCKET, Key="compacted/a.parquet", Body=b"x")
    drain(bridge)
    assert [e["Records"][0]["s3"]["object"]["key"] for e in received(function)] == ["raw/a.gz"]


def test_sqs_source_sends_batches_and_keeps_failed_items(function):
    queue_url, dlq_url = create_queue_with_dlq(
        "work", max_receive_count=2, visibility_timeout_seconds=30
    )
    sqs = boto3.client("sqs")
    for body in ("one", "poison", "two"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    source = SqsEventSource(
        queue_url, function, batch_size=10, report_batch_item_failures=True, retry_delay_seconds=0
    )
    drain(source)

    events = received(function)
    first = events[0]["Records"]
    assert {r["body"] for r in first} <= {"one", "poison", "two"}
    assert {r["eventSource"] for r in first} == {"aws:sqs"}
    assert {r["eventSourceARN"] for r in first} == {source.queue_arn}
    bodies = [r["body"] for e in events for r in e["Records"]]
    assert bodies.count("one") == 1
    assert bodies.count("two") == 1
    assert bodies.count("poison") == 2  # maxReceiveCount 2, then the dead-letter queue
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["poison"]


def test_starting_a_bridge_installs_it(function):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    bridge = S3NotificationBridge(BUCKET, function, prefix="raw/", retry_delays=(0, 0))
    stop = threading.Event()
    thread = bridge.start(stop)
    try:
        boto3.client("s3").put_object(Bucket=BUCKET, Key="raw/started.gz", Body=b"x")
        for _ in range(200):
            if received(function):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [e["Records"][0]["s3"]["object"]["key"] for e in received(function)] == [
        "raw/started.gz"
    ]
