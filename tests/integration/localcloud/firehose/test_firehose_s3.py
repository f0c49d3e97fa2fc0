"""The local Firehose against moto's Kinesis and S3: keys, compression, buffering, processing,
checkpoints."""

import base64
import gzip
import json
import os
import re
import threading
from datetime import UTC, datetime

import boto3
import pytest

from localcloud.firehose.config import MIB
from localcloud.firehose.delivery import (
    DeliveryStreamConfig,
    DeliveryStreamConfigError,
    DeliveryWorker,
)

pytestmark = pytest.mark.integration

STREAM = "sensor-stream"
BUCKET = "sensor-data"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:validator"
KEY = re.compile(
    r"raw/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/raw-delivery-1-"
    r"(\d{4}-\d{2}-\d{2})-(\d{2})-\d{2}-\d{2}-[0-9a-f-]{36}\.gz"
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def stream_props(interval=60, size_mib=5, processing=None, **destination):
    config = {
        "BucketARN": f"arn:aws:s3:::{BUCKET}",
        "Prefix": "raw/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
        "ErrorOutputPrefix": (
            "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
        ),
        "CompressionFormat": "GZIP",
        "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size_mib},
        **destination,
    }
    if processing is not None:
        config["ProcessingConfiguration"] = processing
    return {
        "DeliveryStreamName": "raw-delivery",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}"
        },
        "ExtendedS3DestinationConfiguration": config,
    }


def lambda_processing(retries=0):
    return {
        "Enabled": True,
        "Processors": [
            {
                "Type": "Lambda",
                "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": LAMBDA_ARN},
                    {"ParameterName": "NumberOfRetries", "ParameterValue": str(retries)},
                ],
            }
        ],
    }


@pytest.fixture
def pipeline(aws):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return kinesis


def put(kinesis, payloads):
    for n, payload in enumerate(payloads):
        kinesis.put_record(StreamName=STREAM, Data=payload, PartitionKey=f"device-{n % 7}")


def objects(prefix=""):
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        for item in listing
    }


def lines(bodies):
    out = []
    for body in bodies:
        out.extend(gzip.decompress(body).decode().splitlines())
    return out


def worker(tmp_path, props=None, **kwargs):
    config = DeliveryStreamConfig.from_cfn_properties("RawToS3", props or stream_props())
    return DeliveryWorker(config, checkpoints=tmp_path / "checkpoints", **kwargs)


def test_records_land_gzipped_newline_delimited_under_firehose_keys(pipeline, tmp_path):
    before = datetime.now(UTC).replace(microsecond=0)
    readings = [json.dumps({"device_id": f"d{n}", "seq": n}) + "\n" for n in range(40)]
    put(pipeline, [r.encode() for r in readings])
    delivery = worker(tmp_path)
    assert delivery.drain()
    after = datetime.now(UTC)

    written = objects("raw/")
    assert len(written) == 1
    (key,) = written
    match = KEY.fullmatch(key)
    assert match, key
    date, hour, suffix_date, suffix_hour = match.groups()
    assert (date, hour) == (suffix_date, suffix_hour)
    assert before.strftime("%Y-%m-%d %H") <= f"{date} {hour}" <= after.strftime("%Y-%m-%d %H")
    # both shards, every record, each line exactly as put (Firehose adds no delimiter itself)
    assert sorted(lines(written.values())) == sorted(r.rstrip("\n") for r in readings)
    assert gzip.decompress(written[key]).endswith(b"\n")
    assert delivery.counters.records_in == 40
    assert delivery.counters.records_delivered == 40
    assert delivery.counters.objects_written == 1
    assert set(delivery.checkpoints) == {"shardId-000000000000", "shardId-000000000001"}


def test_uncompressed_records_are_concatenated_as_they_are(pipeline, tmp_path):
    put(pipeline, [b"a", b"b", b"c"])
    props = stream_props(CompressionFormat="UNCOMPRESSED")
    worker(tmp_path, props).drain()
    (body,) = objects("raw/").values()
    assert sorted(body.decode()) == ["a", "b", "c"]
    assert len(body) == 3


def test_append_delimiter_processor_adds_newlines(pipeline, tmp_path):
    put(pipeline, [b'{"n": 1}', b'{"n": 2}'])
    processing = {
        "Enabled": True,
        "Processors": [{"Type": "AppendDelimiterToRecord", "Parameters": []}],
    }
    worker(tmp_path, stream_props(processing=processing)).drain()
    assert sorted(lines(objects("raw/").values())) == ['{"n": 1}', '{"n": 2}']


def test_buffer_is_delivered_by_size_before_the_interval(pipeline, tmp_path):
    record = b"x" * (100 * 1024 - 1) + b"\n"
    put(pipeline, [record] * 25)  # 2.5 MiB
    clock = FakeClock()
    delivery = worker(tmp_path, stream_props(interval=900, size_mib=1), clock=clock)
    while delivery.poll_once():
        pass
    sizes = sorted(len(gzip.decompress(body)) for body in objects("raw/").values())
    assert len(sizes) == 2
    assert all(size >= MIB for size in sizes)
    assert delivery.status()["buffered"] == 25 - sum(sizes) // len(record)
    assert delivery.flush()
    assert len(objects("raw/")) == 3
    assert len(lines(objects("raw/").values())) == 25


def test_buffer_is_delivered_by_interval_before_the_size(pipeline, tmp_path):
    put(pipeline, [b"one\n", b"two\n"])
    clock = FakeClock()
    delivery = worker(tmp_path, stream_props(interval=60, size_mib=5), clock=clock)
    assert delivery.poll_once() == 2
    clock.now += 59
    delivery.poll_once()
    assert objects("raw/") == {}
    assert delivery.checkpoints == {}
    clock.now += 1
    delivery.poll_once()
    assert sorted(lines(objects("raw/").values())) == ["one", "two"]


def test_run_forever_delivers_on_the_interval_in_a_thread(pipeline, tmp_path):
    delivery = worker(tmp_path, stream_props(interval=0), poll_interval_seconds=0.05)
    stop = threading.Event()
    thread = delivery.start(stop)
    try:
        put(pipeline, [b"tick\n"])
        deadline = 200
        while not objects("raw/") and deadline:
            stop.wait(0.05)
            deadline -= 1
        assert lines(objects("raw/").values()) == ["tick"]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def transform(event):
    out = []
    for item in event["records"]:
        data = base64.b64decode(item["data"])
        rid = item["recordId"]
        if data.startswith(b"drop"):
            out.append({"recordId": rid, "result": "Dropped"})
        elif data.startswith(b"fail"):
            out.append({"recordId": rid, "result": "ProcessingFailed"})
        else:
            body = base64.b64encode(data.upper() + b"\n").decode()
            out.append({"recordId": rid, "result": "Ok", "data": body})
    return {"records": out}


def test_processor_results_ok_dropped_and_processing_failed(pipeline, tmp_path):
    put(pipeline, [b"good-1", b"drop-1", b"fail-1", b"good-2", b"fail-2"])
    delivery = worker(tmp_path, stream_props(processing=lambda_processing()), processor=transform)
    assert delivery.drain()

    assert sorted(lines(objects("raw/").values())) == ["GOOD-1", "GOOD-2"]
    errors = objects("errors/")
    assert len(errors) == 1
    (key,) = errors
    assert re.fullmatch(
        r"errors/processing-failed/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/raw-delivery-1-.*\.gz", key
    )
    failed = [json.loads(line) for line in lines(errors.values())]
    assert sorted(base64.b64decode(f["rawData"]) for f in failed) == [b"fail-1", b"fail-2"]
    assert {f["errorCode"] for f in failed} == {"Lambda.ProcessingFailedStatus"}
    assert {f["lambdaArn"] for f in failed} == {LAMBDA_ARN}
    assert {f["attemptsMade"] for f in failed} == {1}
    counters = delivery.counters.snapshot()
    assert counters["records_delivered"] == 2
    assert counters["records_dropped"] == 1
    assert counters["records_failed"] == 2
    assert counters["error_objects_written"] == 1


def test_a_failing_processor_sends_every_record_to_the_error_output(pipeline, tmp_path):
    calls = []

    def broken(event):
        calls.append(len(event["records"]))
        raise RuntimeError("KeyError: 'ERROR_BUCKET'")

    put(pipeline, [b"a", b"b", b"c"])
    delivery = worker(tmp_path, stream_props(processing=lambda_processing(1)), processor=broken)
    assert delivery.drain()
    assert calls == [3, 3]
    assert objects("raw/") == {}
    failed = [json.loads(line) for line in lines(objects("errors/processing-failed/").values())]
    assert len(failed) == 3
    assert {f["errorCode"] for f in failed} == {"Lambda.FunctionError"}
    assert {f["attemptsMade"] for f in failed} == {2}
    assert "ERROR_BUCKET" in failed[0]["errorMessage"]
    assert delivery.checkpoints  # failed records are delivered (to the error output), not lost


def test_a_stream_with_a_lambda_needs_a_processor(pipeline, tmp_path):
    with pytest.raises(DeliveryStreamConfigError, match="processor"):
        worker(tmp_path, stream_props(processing=lambda_processing()))


def test_a_restarted_worker_continues_from_its_checkpoint(pipeline, tmp_path):
    put(pipeline, [f"first-{n}\n".encode() for n in range(10)])
    assert worker(tmp_path).drain()
    put(pipeline, [f"second-{n}\n".encode() for n in range(5)])
    restarted = worker(tmp_path)
    assert restarted.drain()
    assert restarted.counters.records_in == 5  # not the whole stream again
    assert len(objects("raw/")) == 2
    delivered = lines(objects("raw/").values())
    assert sorted(delivered) == sorted(
        [f"first-{n}" for n in range(10)] + [f"second-{n}" for n in range(5)]
    )


def test_a_crash_before_delivery_loses_nothing(pipeline, tmp_path):
    put(pipeline, [f"r{n}\n".encode() for n in range(10)])
    crashed = worker(tmp_path, stream_props(interval=900))
    assert crashed.poll_once() == 10  # read and buffered, never delivered
    del crashed
    restarted = worker(tmp_path)
    assert restarted.drain()
    assert sorted(lines(objects("raw/").values())) == sorted(f"r{n}" for n in range(10))


def test_records_read_ahead_during_a_delivery_are_delivered_by_flush(pipeline, tmp_path):
    put(pipeline, [f"a{n}\n".encode() for n in range(10)])
    delivery = worker(tmp_path, stream_props(interval=900))
    assert delivery.poll_once() == 10  # buffered; the next read is already under way
    put(pipeline, [f"b{n}\n".encode() for n in range(5)])
    assert delivery.flush()  # delivers the buffer and whatever the read-ahead returned
    assert delivery.drain()
    delivered = lines(objects("raw/").values())
    assert sorted(delivered) == sorted([f"a{n}" for n in range(10)] + [f"b{n}" for n in range(5)])
    assert delivery.counters.records_delivered == 15


def test_flush_delivers_at_the_size_hint_like_a_poll(pipeline, tmp_path):
    """The page read ahead is buffered record by record, delivering at the size hint, so a
    flushed object is over the hint by less than one record (not by a whole page)."""
    record_bytes, hint = 50_000, MIB
    put(pipeline, [os.urandom(record_bytes) for _ in range(30)])  # incompressible
    delivery = worker(tmp_path, stream_props(interval=900, size_mib=1))
    delivery._source._limit = 7  # pages of 7 records a shard: 700 KB, under the hint
    assert delivery.poll_once() == 14  # buffered; the next page is read meanwhile
    assert delivery.flush()
    assert delivery.drain()
    sizes = sorted(len(gzip.decompress(body)) for body in objects("raw/").values())
    assert sum(sizes) == 30 * record_bytes
    assert hint <= sizes[-1] < hint + record_bytes, sizes


def test_records_read_ahead_by_a_crashed_worker_are_read_again(pipeline, tmp_path):
    put(pipeline, [f"r{n}\n".encode() for n in range(10)])
    crashed = worker(tmp_path, stream_props(interval=0))
    assert crashed.poll_once() == 10  # delivered, and a read ahead started
    put(pipeline, [f"s{n}\n".encode() for n in range(5)])
    crashed.poll_once()  # picks up the read ahead (possibly empty) and reads on
    del crashed  # what it read and had not delivered is gone with it
    restarted = worker(tmp_path)
    assert restarted.drain()
    delivered = lines(objects("raw/").values())
    assert set(delivered) == {f"r{n}" for n in range(10)} | {f"s{n}" for n in range(5)}


def test_the_checkpoint_moves_only_after_the_object_is_written(pipeline, tmp_path):
    put(pipeline, [b"kept\n"])
    props = stream_props(interval=0, BucketARN="arn:aws:s3:::bucket-created-later")
    delivery = worker(tmp_path, props)
    delivery.poll_once()
    assert delivery.counters.delivery_errors == 1
    assert delivery.checkpoints == {}
    assert not delivery.flush()
    boto3.client("s3").create_bucket(Bucket="bucket-created-later")
    assert delivery.flush()
    assert delivery.checkpoints
    listing = boto3.client("s3").list_objects_v2(Bucket="bucket-created-later")["Contents"]
    assert len(listing) == 1  # the retried put used the same key


def test_source_records_are_backed_up_when_s3_backup_is_enabled(pipeline, tmp_path):
    put(pipeline, [b"raw-a", b"raw-b"])
    props = stream_props(
        processing=lambda_processing(),
        S3BackupMode="Enabled",
        S3BackupConfiguration={
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "backup/",
            "CompressionFormat": "UNCOMPRESSED",
        },
    )
    worker(tmp_path, props, processor=transform).drain()
    (backup,) = objects("backup/").values()
    assert sorted(backup.decode().replace("raw-", " ").split()) == ["a", "b"]
    assert sorted(lines(objects("raw/").values())) == ["RAW-A", "RAW-B"]


def test_checkpoints_of_a_recreated_stream_are_not_used(pipeline, aws, tmp_path):
    put(pipeline, [f"old-{n}\n".encode() for n in range(8)])
    assert worker(tmp_path).drain()
    aws.reset()  # moto restarted: the stream and bucket are new, the checkpoint file is not
    boto3.client("kinesis").create_stream(StreamName=STREAM, ShardCount=2)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    put(boto3.client("kinesis"), [f"new-{n}\n".encode() for n in range(3)])
    assert worker(tmp_path).drain()
    assert sorted(lines(objects("raw/").values())) == ["new-0", "new-1", "new-2"]
