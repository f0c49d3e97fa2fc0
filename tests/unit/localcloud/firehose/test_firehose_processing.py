"""The transformation Lambda's event, Firehose's status model, and the error records."""

import base64
import json
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent

from localcloud.firehose.config import DeliveryStreamConfig, LambdaProcessor
from localcloud.firehose.opensearch import Document, bulk_body, single_line_json
from localcloud.firehose.processing import (
    InvalidProcessorResponse,
    chunks,
    interpret_response,
    process,
    transformation_event,
)
from localcloud.kinesis.consumer import SourceRecord

ARRIVAL = datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=UTC)
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:validator"
CONFIG = DeliveryStreamConfig.from_cfn_properties(
    "Raw",
    {
        "DeliveryStreamName": "raw-delivery",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {
            "KinesisStreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/sensors"
        },
        "ExtendedS3DestinationConfiguration": {"BucketARN": "arn:aws:s3:::data"},
    },
)


def records(*payloads, shard="shardId-000000000000"):
    return [
        SourceRecord(shard, str(100 + n), f"pk{n}", payload, ARRIVAL)
        for n, payload in enumerate(payloads)
    ]


def settings(retries=3, size_mib=1.0):
    return LambdaProcessor(LAMBDA_ARN, number_of_retries=retries, buffer_size_mib=size_mib)


def test_event_has_the_documented_kinesis_source_shape():
    event, by_id = transformation_event(CONFIG, "inv-1", records(b"hello"))
    assert event["invocationId"] == "inv-1"
    assert event["deliveryStreamArn"] == CONFIG.arn
    assert event["sourceKinesisStreamArn"] == CONFIG.source_stream_arn
    assert event["region"] == "us-east-1"
    (item,) = event["records"]
    assert item["approximateArrivalTimestamp"] == 1714566600250
    assert base64.b64decode(item["data"]) == b"hello"
    assert item["kinesisRecordMetadata"] == {
        "shardId": "shardId-000000000000",
        "partitionKey": "pk0",
        "approximateArrivalTimestamp": 1714566600250,
        "sequenceNumber": "100",
        "subsequenceNumber": 0,
    }
    assert by_id[item["recordId"]].data == b"hello"


def test_record_ids_are_unique_even_when_shards_repeat_sequence_numbers():
    batch = records(b"a", shard="shardId-000000000000") + records(b"b", shard="shardId-1")
    event, by_id = transformation_event(CONFIG, "inv", batch)
    assert len({item["recordId"] for item in event["records"]}) == 2
    assert len(by_id) == 2


def test_powertools_can_read_the_event():
    event, _ = transformation_event(CONFIG, "inv", records(b'{"a": 1}'))
    parsed = KinesisFirehoseEvent(event)
    (record,) = list(parsed.records)
    assert record.data_as_json == {"a": 1}
    assert record.metadata.shard_id == "shardId-000000000000"
    assert parsed.source_kinesis_stream_arn == CONFIG.source_stream_arn


def ok(rid, data):
    return {"recordId": rid, "result": "Ok", "data": base64.b64encode(data).decode()}


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (None, "Lambda.JsonProcessingException"),
        ({"records": "no"}, "Lambda.JsonProcessingException"),
        ({"records": [ok("a", b"x")]}, "Lambda.MissingRecordId"),
        ({"records": [ok("a", b"x"), ok("a", b"x"), ok("b", b"y")]}, "Lambda.DuplicatedRecordId"),
        ({"records": [ok("a", b"x"), {"recordId": "b", "result": "OK"}]}, "JsonProcessing"),
        ({"records": [ok("a", b"x"), {"recordId": "b", "result": "Ok", "data": "!"}]}, "base64"),
        ({"records": [ok("a", b"x"), ok("b", b"y"), ok("c", b"z")]}, "was not sent"),
    ],
)
def test_responses_breaking_the_status_model_are_invocation_failures(response, code):
    with pytest.raises(InvalidProcessorResponse, match=code):
        interpret_response(response, {"a", "b"})


def classify(event):
    """A transformation function: upper-cases, drops 'drop', fails 'fail'."""
    out = []
    for item in event["records"]:
        data = base64.b64decode(item["data"])
        if data == b"drop":
            out.append({"recordId": item["recordId"], "result": "Dropped"})
        elif data == b"fail":
            out.append({"recordId": item["recordId"], "result": "ProcessingFailed", "data": ""})
        else:
            out.append(ok(item["recordId"], data.upper() + b"\n"))
    return {"records": list(reversed(out))}


def test_ok_dropped_and_processing_failed_are_honoured_in_source_order():
    outcome = process(CONFIG, settings(), classify, records(b"a", b"drop", b"b", b"fail", b"c"))
    assert [data for _, data in outcome.ok] == [b"A\n", b"B\n", b"C\n"]
    assert [r.data for r in outcome.dropped] == [b"drop"]
    (failed,) = outcome.failed
    line = json.loads(failed.to_json_line(LAMBDA_ARN))
    assert set(line) == {
        "attemptsMade",
        "arrivalTimestamp",
        "errorCode",
        "errorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "lambdaArn",
    }
    assert line["attemptsMade"] == 1
    assert line["arrivalTimestamp"] == 1714566600250
    assert line["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert base64.b64decode(line["rawData"]) == b"fail"
    assert line["lambdaArn"] == LAMBDA_ARN
    assert line["attemptEndingTimestamp"] >= line["arrivalTimestamp"]


def test_a_failing_function_is_retried_then_its_records_fail():
    calls = []

    def broken(event):
        calls.append(event["invocationId"])
        raise RuntimeError("Runtime.ImportModuleError: no module named validator")

    outcome = process(CONFIG, settings(retries=2), broken, records(b"a", b"b"), 0)
    assert len(calls) == 3
    assert len(set(calls)) == 1  # a retry keeps its invocation id
    assert outcome.ok == []
    assert [f.attempts for f in outcome.failed] == [3, 3]
    assert {f.error_code for f in outcome.failed} == {"Lambda.FunctionError"}
    assert "no module named validator" in outcome.failed[0].error_message


def test_a_function_that_recovers_within_its_retries_loses_nothing():
    attempts = []

    def flaky(event):
        attempts.append(1)
        if len(attempts) == 1:
            return {"records": []}  # MissingRecordId: counts as a failed invocation
        return classify(event)

    outcome = process(CONFIG, settings(retries=1), flaky, records(b"a", b"b"), 0)
    assert len(attempts) == 2
    assert [data for _, data in outcome.ok] == [b"A\n", b"B\n"]
    assert outcome.failed == []


def test_invocations_are_split_by_the_processor_buffer_size():
    batch = records(b"x" * 400_000, b"y" * 400_000, b"z" * 400_000)
    assert [len(c) for c in chunks(batch, 1024 * 1024)] == [2, 1]
    assert [len(c) for c in chunks(batch, 10)] == [1, 1, 1]
    events = []

    def spy(event):
        events.append(event)
        return classify(event)

    process(CONFIG, settings(size_mib=1.0), spy, batch, 0)
    assert [len(e["records"]) for e in events] == [2, 1]


def test_bulk_body_is_ndjson_with_index_actions():
    batch = records(b'{"a": 1}\n', b'{"b": 2}')
    documents = [
        (Document(batch[0], batch[0].data, "shardId-000000000000-100"), b'{"a": 1}'),
        (Document(batch[1], batch[1].data, None), b'{"b": 2}'),
    ]
    lines = bulk_body("sensor-log-2024-05-01-12", documents).split(b"\n")
    assert lines[-1] == b""
    assert json.loads(lines[0]) == {
        "index": {"_index": "sensor-log-2024-05-01-12", "_id": "shardId-000000000000-100"}
    }
    assert json.loads(lines[1]) == {"a": 1}
    assert json.loads(lines[2]) == {"index": {"_index": "sensor-log-2024-05-01-12"}}
    assert json.loads(lines[3]) == {"b": 2}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1}\n', b'{"a": 1}'),
        (b'{"a": 1}', b'{"a": 1}'),
        (b'{"a":\n 1}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_only_single_line_json_objects_are_sent(body, expected):
    assert single_line_json(body) == expected
