"""The local Firehose's OpenSearch delivery: bulk requests, index rotation, retries, failed
documents and backups. The endpoint is a tiny stdlib `_bulk` server defined here, so these tests
check exactly what Firehose sends."""

import base64
import gzip
import json
import re
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from localcloud.core.ports import LOOPBACK, free_port
from localcloud.firehose.delivery import DeliveryStreamConfig, DeliveryWorker
from localcloud.opensearch.server import OpenSearchEmulator
from search_setup.setup import install

pytestmark = pytest.mark.integration

STREAM = "sensor-stream"
BUCKET = "sensor-data"


class BulkServer:
    """Answers POST /_bulk like OpenSearch; `decide(doc, attempt)` gives each item's status."""

    def __init__(self, decide=lambda doc, attempt: 201):
        self.requests = []
        self.attempts = {}
        self.decide = decide
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append((self.path, self.headers["Content-Type"], body))
                rows = [json.loads(line) for line in body.splitlines()]
                items = []
                for action, doc in zip(rows[::2], rows[1::2], strict=True):
                    meta = action["index"]
                    key = json.dumps(doc, sort_keys=True)
                    server.attempts[key] = server.attempts.get(key, 0) + 1
                    status = server.decide(doc, server.attempts[key])
                    item = {"_index": meta["_index"], "_id": meta.get("_id", "auto")}
                    item["status"] = status
                    if status >= 300:
                        item["error"] = {"type": "mapper_parsing_exception", "reason": "bad field"}
                    items.append({"index": item})
                reply = json.dumps({"took": 1, "errors": False, "items": items}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.endpoint = f"http://{LOOPBACK}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bulk_lines(self, number=0):
        return [json.loads(line) for line in self.requests[number][2].splitlines()]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    bulk = BulkServer()
    yield bulk
    bulk.close()


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=1)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return client


def search_props(**destination):
    return {
        "DeliveryStreamName": "search-delivery",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}"
        },
        "AmazonopensearchserviceDestinationConfiguration": {
            "DomainARN": "arn:aws:es:us-east-1:123456789012:domain/search",
            "IndexName": "sensor-log",
            "IndexRotationPeriod": "OneHour",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            "RetryOptions": {"DurationInSeconds": 5},
            "S3BackupMode": "FailedDocumentsOnly",
            "S3Configuration": {
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "errors/search/",
                "ErrorOutputPrefix": "errors/search/!{firehose:error-output-type}/",
                "CompressionFormat": "GZIP",
            },
            "VpcConfiguration": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
            **destination,
        },
    }


def worker(tmp_path, endpoint, props=None, **kwargs):
    config = DeliveryStreamConfig.from_cfn_properties("ToOpenSearch", props or search_props())
    return DeliveryWorker(
        config, opensearch_endpoint=endpoint, checkpoints=tmp_path / "cp", **kwargs
    )


def put(kinesis, docs):
    for doc in docs:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey="sensehat-01")


def s3_lines(prefix):
    s3 = boto3.client("s3")
    out = {}
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        out[item["Key"]] = gzip.decompress(body).decode().splitlines()
    return out


def test_documents_go_to_the_hourly_index_with_stable_firehose_ids(kinesis, server, tmp_path):
    before = datetime.now(UTC)
    put(kinesis, [{"device_id": "d", "seq": n} for n in range(3)])
    delivery = worker(tmp_path, server.endpoint)
    assert delivery.drain()
    after = datetime.now(UTC)

    ((path, content_type, _),) = server.requests
    assert path == "/_bulk"
    assert content_type == "application/x-ndjson"
    rows = server.bulk_lines()
    actions, docs = rows[::2], rows[1::2]
    assert docs == [{"device_id": "d", "seq": n} for n in range(3)]
    indices = {action["index"]["_index"] for action in actions}
    assert len(indices) == 1
    (index,) = indices
    assert index in {
        f"sensor-log-{moment:%Y-%m-%d-%H}" for moment in (before, after)
    }  # rotated by UTC arrival hour
    ids = [action["index"]["_id"] for action in actions]
    assert all(re.fullmatch(r"shardId-000000000000-\d+", i) for i in ids)
    assert len(set(ids)) == 3
    assert delivery.counters.records_delivered == 3
    assert s3_lines("errors/") == {}

    # a re-delivery (lost checkpoint) sends the same ids: documents are replaced, not duplicated
    (tmp_path / "cp" / "search-delivery.json").unlink()
    worker(tmp_path, server.endpoint).drain()
    assert [a["index"]["_id"] for a in server.bulk_lines(1)[::2]] == ids


def test_rejected_documents_are_backed_up_with_the_reason(kinesis, server, tmp_path):
    server.decide = lambda doc, attempt: 400 if doc.get("bad") else 201
    put(kinesis, [{"n": 1}, {"n": 2, "bad": True}, {"n": 3}])
    delivery = worker(tmp_path, server.endpoint)
    assert delivery.drain()

    assert len(server.requests) == 1  # a 400 is not retried
    failed = s3_lines("errors/search/AmazonOpenSearchService-failed/")
    assert len(failed) == 1
    (key, records) = next(iter(failed.items()))
    assert re.fullmatch(
        r"errors/search/AmazonOpenSearchService-failed/search-delivery-1-"
        r"\d{4}(-\d{2}){5}-[0-9a-f-]{36}\.gz",
        key,
    )
    (record,) = [json.loads(line) for line in records]
    assert record["errorCode"] == "400"
    assert "mapper_parsing_exception" in record["errorMessage"]
    assert record["esIndexName"].startswith("sensor-log-")
    assert record["esDocumentId"].startswith("shardId-000000000000-")
    assert record["attemptsMade"] == 1
    assert json.loads(base64.b64decode(record["rawData"])) == {"n": 2, "bad": True}
    assert {"arrivalTimestamp", "attemptEndingTimestamp", "esTypeName"} <= set(record)
    assert delivery.counters.records_delivered == 2
    assert delivery.counters.records_failed == 1


def test_throttled_documents_are_retried_until_indexed(kinesis, server, tmp_path):
    server.decide = lambda doc, attempt: 429 if doc.get("busy") and attempt < 3 else 201
    put(kinesis, [{"n": 1}, {"n": 2, "busy": True}])
    delivery = worker(tmp_path, server.endpoint)
    assert delivery.drain()
    assert len(server.requests) == 3
    assert server.bulk_lines(2)[1::2] == [{"n": 2, "busy": True}]  # only the failed one again
    assert s3_lines("errors/") == {}
    assert delivery.counters.records_delivered == 2


def test_an_unreachable_endpoint_backs_documents_up_after_the_retry_duration(kinesis, tmp_path):
    put(kinesis, [{"n": 1}, {"n": 2}])
    props = search_props(RetryOptions={"DurationInSeconds": 0})
    delivery = worker(tmp_path, f"http://{LOOPBACK}:{free_port()}", props)
    assert delivery.drain()
    (records,) = s3_lines("errors/search/AmazonOpenSearchService-failed/").values()
    failed = [json.loads(line) for line in records]
    assert len(failed) == 2
    assert {f["errorCode"] for f in failed} == {"OpenSearch.ConnectionFailed"}
    assert {f["attemptsMade"] for f in failed} == {1}
    assert delivery.checkpoints  # backed up counts as delivered: the checkpoint moves


def test_a_record_that_is_not_a_json_object_is_backed_up_not_sent(kinesis, server, tmp_path):
    put(kinesis, [b'{"n": 1}\n', b"plain text"])
    delivery = worker(tmp_path, server.endpoint)
    assert delivery.drain()
    assert server.bulk_lines()[1::2] == [{"n": 1}]
    (records,) = s3_lines("errors/search/AmazonOpenSearchService-failed/").values()
    (record,) = [json.loads(line) for line in records]
    assert base64.b64decode(record["rawData"]) == b"plain text"
    assert record["errorCode"] == "400"


def test_all_documents_backup_writes_every_source_record(kinesis, server, tmp_path):
    put(kinesis, [{"n": 1}, {"n": 2}])
    props = search_props(S3BackupMode="AllDocuments")
    props["AmazonopensearchserviceDestinationConfiguration"]["S3Configuration"].pop(
        "ErrorOutputPrefix"
    )
    worker(tmp_path, server.endpoint, props).drain()
    backups = s3_lines("errors/search/")
    (key,) = backups
    assert re.fullmatch(r"errors/search/\d{4}/\d{2}/\d{2}/\d{2}/search-delivery-1-.*\.gz", key)
    assert "".join(backups[key]) == '{"n": 1}{"n": 2}'
    assert len(server.requests) == 1


def test_processing_failures_go_to_the_backup_bucket(kinesis, server, tmp_path):
    def validator(event):
        out = []
        for item in event["records"]:
            doc = json.loads(base64.b64decode(item["data"]))
            result = {1: "Ok", 2: "Dropped", 3: "ProcessingFailed"}[doc["n"]]
            out.append({"recordId": item["recordId"], "result": result, "data": item["data"]})
        return {"records": out}

    props = search_props(
        ProcessingConfiguration={
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [{"ParameterName": "LambdaArn", "ParameterValue": "arn:v"}],
                }
            ],
        }
    )
    put(kinesis, [{"n": 1}, {"n": 2}, {"n": 3}])
    delivery = worker(tmp_path, server.endpoint, props, processor=validator)
    assert delivery.drain()
    assert server.bulk_lines()[1::2] == [{"n": 1}]
    (records,) = s3_lines("errors/search/processing-failed/").values()
    (record,) = [json.loads(line) for line in records]
    assert record["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert record["lambdaArn"] == "arn:v"
    assert delivery.counters.snapshot()["records_dropped"] == 1


def test_delivery_to_the_emulated_opensearch(kinesis, tmp_path):
    """Against localcloud/opensearch/server.py, read back through its REST API only."""
    put(kinesis, [{"device_id": "sensehat-01", "seq": n, "temperature": 20.5} for n in range(5)])
    put(kinesis, [{"device_id": "sensehat-01", "seq": "not-a-number-after-numbers"}])
    with OpenSearchEmulator(ism_interval_seconds=None) as search:
        delivery = worker(tmp_path, search.endpoint)
        assert delivery.drain()
        with urllib.request.urlopen(f"{search.endpoint}/_cat/indices") as response:  # noqa: S310
            indices = [line.split()[2] for line in response.read().decode().splitlines()]
        assert len(indices) == 1
        assert re.fullmatch(r"sensor-log-\d{4}-\d{2}-\d{2}-\d{2}", indices[0])
        count = get_json(f"{search.endpoint}/sensor-log-*/_count")["count"]
    assert count == 5
    assert delivery.counters.records_delivered == 5
    # seq was mapped as a number by the first documents: the string is rejected and backed up
    (records,) = s3_lines("errors/search/AmazonOpenSearchService-failed/").values()
    (record,) = [json.loads(line) for line in records]
    assert record["errorCode"] == "400"
    assert json.loads(base64.b64decode(record["rawData"]))["seq"] == "not-a-number-after-numbers"


def put_readings(kinesis, device):
    """Three readings of `device`; the (shard id, sequence number) of each record."""
    placed = []
    for seq in range(3):
        reading = {"device_id": device, "seq": seq, "temperature": 20.0 + seq}
        answer = kinesis.put_record(
            StreamName=STREAM, Data=json.dumps(reading).encode(), PartitionKey=device
        )
        placed.append((answer["ShardId"], answer["SequenceNumber"]))
    return placed


def search_hits(endpoint):
    query = {"size": 100}
    request = urllib.request.Request(  # noqa: S310 (the emulator's http endpoint)
        f"{endpoint}/sensor-log-*/_search",
        data=json.dumps(query).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        return sorted(json.load(response)["hits"]["hits"], key=lambda hit: hit["_id"])


def test_a_recreated_stream_does_not_overwrite_and_a_redelivery_is_one_document(kinesis, tmp_path):
    """With the set-up's document id pipeline: a stream created anew (a local restart; a
    re-created stream on AWS) starts shard ids and sequence numbers, so Firehose's ids, again;
    another device's readings must not replace the first device's documents. A redelivery
    (checkpoint lost) sends the same readings again: still one document each."""
    with OpenSearchEmulator(ism_interval_seconds=None) as search:
        install(search.endpoint, ("admin", "x"), "sensor-log", [], time.monotonic() + 30)
        first = put_readings(kinesis, "pi-a")
        assert worker(tmp_path / "before", search.endpoint).drain()

        kinesis.delete_stream(StreamName=STREAM)
        kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        second = put_readings(kinesis, "pi-b")
        assert second == first  # the same shard ids and sequence numbers: the same Firehose ids
        assert worker(tmp_path / "after", search.endpoint).drain()
        (tmp_path / "after" / "cp" / "search-delivery.json").unlink()
        assert worker(tmp_path / "after", search.endpoint).drain()  # everything again

        hits = search_hits(search.endpoint)
        versions = {
            hit["_id"]: search.store.index(hit["_index"]).docs[hit["_id"]].version for hit in hits
        }
    assert [hit["_id"] for hit in hits] == [f"{d}:{n}" for d in ("pi-a", "pi-b") for n in range(3)]
    assert all(hit["_source"]["device_id"] == hit["_id"].split(":")[0] for hit in hits)
    assert all(hit["_source"]["seq"] == int(hit["_id"].split(":")[1]) for hit in hits)
    assert all(versions[i] == (2 if i.startswith("pi-b") else 1) for i in versions)


def get_json(url):
    with urllib.request.urlopen(url) as response:  # noqa: S310 (the emulator's http endpoint)
        return json.load(response)
