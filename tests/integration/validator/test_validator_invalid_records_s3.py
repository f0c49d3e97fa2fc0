"""The S3 stream's validator writes invalid records to the error prefix in (moto) S3."""

import base64
import json

import boto3
import pytest

from validator import handler

pytestmark = pytest.mark.integration

BUCKET = "sensor-data"
THING = "sensehat-01"
ARRIVAL_MS = 1_718_000_000_123  # 2024-06-10T06:13:20.123Z


def reading(**changes):
    base = {
        "schema": 1,
        "device_id": THING,
        "seq": 1,
        "ts": "2024-06-10T06:13:19.987Z",
        "temperature": 21.5,
        "humidity": 45.0,
        "pressure": 1013.2,
    }
    return {**base, **changes}


def record(record_id, payload: bytes, approx_ms=ARRIVAL_MS + 500):
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "thing_name": THING,
        "arrival_ms": ARRIVAL_MS,
        "client_id": THING,
    }
    return {
        "recordId": record_id,
        "approximateArrivalTimestamp": approx_ms,
        "data": base64.b64encode(json.dumps(envelope).encode()).decode(),
    }


def firehose_event(*records):
    return {
        "invocationId": "6a1c3e2f-5b4d-4e8a-9c7b-0d1e2f3a4b5c",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/raw",
        "region": "us-east-1",
        "records": list(records),
    }


@pytest.fixture
def s3_stream(aws, monkeypatch):
    monkeypatch.setenv("OUTPUT_FORMAT", "s3-lines")
    monkeypatch.setenv("INVALID_RECORDS", "write")
    monkeypatch.setenv("ERROR_BUCKET", BUCKET)
    monkeypatch.delenv("ERROR_PREFIX", raising=False)
    handler.s3_client.cache_clear()  # a client for this test's moto endpoint
    yield boto3.client("s3")
    handler.s3_client.cache_clear()


def objects(s3):
    listing = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        for item in listing
    }


def test_invalid_records_are_in_s3_with_reasons_before_they_are_dropped(s3_stream):
    s3_stream.create_bucket(Bucket=BUCKET)
    event = firehose_event(
        record("good", json.dumps(reading()).encode()),
        record("hot", json.dumps(reading(temperature=150)).encode()),
        record("bytes", b"\xff\xfe\x00"),
        record("next-hour", b"{", approx_ms=ARRIVAL_MS + 3_600_000),
    )
    response = handler.lambda_handler(event, None)
    assert [r["result"] for r in response["records"]] == ["Ok", "Dropped", "Dropped", "Dropped"]
    stored = objects(s3_stream)
    key_06 = "errors/invalid/dt=2024-06-10/hour=06/6a1c3e2f-5b4d-4e8a-9c7b-0d1e2f3a4b5c.jsonl"
    key_07 = "errors/invalid/dt=2024-06-10/hour=07/6a1c3e2f-5b4d-4e8a-9c7b-0d1e2f3a4b5c.jsonl"
    assert set(stored) == {key_06, key_07}
    lines = [json.loads(line) for line in stored[key_06].decode().splitlines()]
    assert [(line["record_id"], line["reason"]) for line in lines] == [
        ("hot", "field 'temperature': 150 is out of range (-40 .. 120 degC)"),
        ("bytes", "payload is not valid UTF-8: byte 0xff at offset 0"),
    ]
    assert base64.b64decode(lines[1]["payload_base64"]) == b"\xff\xfe\x00"
    assert (lines[0]["thing_name"], lines[0]["arrival_ms"]) == (THING, ARRIVAL_MS)
    [late] = [json.loads(line) for line in stored[key_07].decode().splitlines()]
    assert late["record_id"] == "next-hour"
    assert late["reason"].startswith("payload is not valid JSON")


def test_a_retried_invocation_rewrites_the_same_object(s3_stream):
    s3_stream.create_bucket(Bucket=BUCKET)
    event = firehose_event(
        record("a", json.dumps(reading(seq=-3)).encode()),
        record("b", json.dumps(reading()).encode()),
    )
    first = handler.lambda_handler(event, None)
    before = objects(s3_stream)
    second = handler.lambda_handler(event, None)
    after = objects(s3_stream)
    assert first == second
    assert len(before) == 1
    assert after == before


def test_a_failed_error_write_fails_only_the_invalid_records(s3_stream):
    # No bucket: the put fails (NoSuchBucket). The invalid record must not be reported Dropped
    # (it would be lost): it is ProcessingFailed with its data, and the good one still lands.
    bad = record("bad", b"not json")
    event = firehose_event(record("good", json.dumps(reading()).encode()), bad)
    response = handler.lambda_handler(event, None)
    assert [r["result"] for r in response["records"]] == ["Ok", "ProcessingFailed"]
    assert response["records"][1]["data"] == bad["data"]


def test_valid_batches_do_not_write_error_objects(s3_stream):
    s3_stream.create_bucket(Bucket=BUCKET)
    response = handler.lambda_handler(
        firehose_event(record("good", json.dumps(reading()).encode())), None
    )
    data = base64.b64decode(response["records"][0]["data"])
    assert data.endswith(b"\n")
    assert objects(s3_stream) == {}
