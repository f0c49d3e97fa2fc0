"""The search document id rule: the ingest pipeline and index template the set-up installs, run
by the emulated OpenSearch on bulk requests shaped as Firehose sends them (`index` actions, each
with Firehose's own id). One document per (device_id, seq), whatever the Firehose id."""

import json

import pytest

from localcloud.opensearch.api import Api
from localcloud.opensearch.store import Store
from search_setup.document_id import DOCUMENT_ID, document_id_pipeline, pipeline_id
from search_setup.index_template import index_template

INDEX = "sensor-log-2026-11-22-10"


@pytest.fixture
def domain():
    """The emulated OpenSearch with what the set-up installs for the default index name."""
    api = Api(Store())
    for path, body in (
        (f"/_ingest/pipeline/{pipeline_id('sensor-log')}", document_id_pipeline()),
        ("/_index_template/sensor-log", index_template("sensor-log")),
    ):
        response = api.handle("PUT", path, {}, json.dumps(body).encode())
        assert response.status == 200, response.body
    return api


def firehose_bulk(api, deliveries, index=INDEX):
    """One `_bulk` of `index` actions with Firehose ids: [(firehose id, reading), ...]."""
    lines = []
    for firehose_id, reading in deliveries:
        lines += [{"index": {"_index": index, "_id": firehose_id}}, reading]
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    body = api.handle("POST", "/_bulk", {}, payload).body
    assert body["errors"] is False, body
    return [item["index"] for item in body["items"]]


def documents(api):
    query = {"size": 100, "sort": [{"seq": "asc"}]}
    hits = api.handle("POST", "/sensor-log-*/_search", {}, json.dumps(query).encode()).body
    return {hit["_id"]: hit["_source"] for hit in hits["hits"]["hits"]}


def reading(device, seq, temperature=21.5):
    return {
        "schema": 1,
        "device_id": device,
        "seq": seq,
        "ts": "2026-11-22T10:00:00.000Z",
        "temperature": temperature,
        "humidity": 40.0,
        "pressure": 1010.0,
        "thing_name": device,
        "arrival_ms": 1795428000000,
    }


def test_every_rotated_index_runs_the_pipeline_by_default():
    settings = index_template("plant-log")["template"]["settings"]
    assert settings["default_pipeline"] == pipeline_id("plant-log") == "plant-log-document-id"
    (processor,) = document_id_pipeline()["processors"]
    assert processor == {"set": {"field": "_id", "value": DOCUMENT_ID}}


def test_a_reading_delivered_twice_with_different_firehose_ids_is_one_document(domain):
    first = firehose_bulk(domain, [("shardId-000000000000-1", reading("pi-a", 7))])
    again = firehose_bulk(domain, [("shardId-000000000001-9", reading("pi-a", 7))])
    assert first[0]["_id"] == again[0]["_id"] == "pi-a:7"
    assert (first[0]["result"], again[0]["result"]) == ("created", "updated")
    assert list(documents(domain)) == ["pi-a:7"]


def test_a_recreated_stream_s_firehose_ids_do_not_overwrite_other_devices(domain):
    # the same shard id and sequence number: a stream created anew starts them again
    firehose_bulk(domain, [("shardId-000000000000-1", reading("pi-a", 0))])
    firehose_bulk(domain, [("shardId-000000000000-1", reading("pi-b", 0))])
    found = documents(domain)
    assert sorted(found) == ["pi-a:0", "pi-b:0"]
    assert found["pi-a:0"]["device_id"] == "pi-a"


def test_two_devices_with_the_same_seq_are_two_documents(domain):
    items = firehose_bulk(domain, [("f-1", reading("pi-a", 3)), ("f-2", reading("pi-b", 3))])
    assert [item["result"] for item in items] == ["created", "created"]
    assert len(documents(domain)) == 2


def test_device_ids_with_colons_cannot_collide(domain):
    # pairs whose parts run into each other: without a separator "a1"+"2" and "a"+"12" would
    # meet; with ":" only a seq containing ":" could, and a seq is digits only
    pairs = [("a", 12), ("a:1", 2), ("a:12", 0), ("a:1:2", 0), ("a", 1), ("a:1", 20), ("1", 2)]
    firehose_bulk(domain, [(f"f-{n}", reading(d, s)) for n, (d, s) in enumerate(pairs)])
    found = documents(domain)
    assert len(found) == len(pairs)
    # the id determines the pair: everything before the last ":" is the device id
    decoded = {(doc_id.rsplit(":", 1)[0], int(doc_id.rsplit(":", 1)[1])) for doc_id in found}
    assert decoded == set(pairs)
    assert all(found[f"{d}:{s}"]["device_id"] == d for d, s in pairs)
