"""The emulated OpenSearch over HTTP, driven by the real opensearch-py client."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import botocore.credentials
import pytest
import requests
from opensearchpy import (
    AWSV4SignerAuth,
    NotFoundError,
    OpenSearch,
    RequestError,
    RequestsHttpConnection,
    helpers,
)
from opensearchpy.exceptions import ConflictError

from localcloud.core.ports import free_port, wait_for_port
from localcloud.opensearch.server import OpenSearchEmulator

pytestmark = pytest.mark.integration

SENSOR_TEMPLATE = {
    "index_patterns": ["sensor-log-*"],
    "priority": 100,
    "template": {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {
            "dynamic": True,
            "properties": {
                "device_id": {"type": "keyword"},
                "ts": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                "temperature": {"type": "float"},
                "humidity": {"type": "float"},
                "pressure": {"type": "float"},
                "seq": {"type": "long"},
            },
        },
    },
}
# (device, hourly index, minute, temperature, humidity): values exact in 32 bits.
READINGS = [
    ("sensehat-01", 10, 5, 20.5, 40.0),
    ("sensehat-01", 10, 40, 21.5, 42.0),
    ("sensehat-02", 10, 20, 18.0, 60.0),
    ("sensehat-02", 11, 15, 19.0, 62.0),
    ("sensehat-01", 12, 10, 23.0, 50.0),
    ("sensehat-03", 12, 59, 25.0, 30.0),
]


@pytest.fixture
def emulator(tmp_path):
    with OpenSearchEmulator(data_dir=tmp_path / "search", ism_interval_seconds=None) as running:
        yield running


@pytest.fixture
def client(emulator):
    return OpenSearch(hosts=[emulator.endpoint], timeout=30)


def actions(readings=READINGS):
    for seq, (device, hour, minute, temperature, humidity) in enumerate(readings):
        yield {
            "_index": f"sensor-log-2026-11-22-{hour:02d}",
            "_id": f"{device}:{seq}",
            "_source": {
                "device_id": device,
                "seq": seq,
                "ts": f"2026-11-22T{hour:02d}:{minute:02d}:00.000Z",
                "temperature": temperature,
                "humidity": humidity,
                "pressure": 1013.0,
            },
        }


@pytest.fixture
def loaded(client):
    client.indices.put_index_template(name="sensor-log", body=SENSOR_TEMPLATE)
    assert helpers.bulk(client, actions()) == (6, [])
    return client


def test_template_mappings_reach_hourly_indices(loaded):
    mappings = loaded.indices.get_mapping(index="sensor-log-*")
    assert sorted(mappings) == [
        "sensor-log-2026-11-22-10",
        "sensor-log-2026-11-22-11",
        "sensor-log-2026-11-22-12",
    ]
    for body in mappings.values():
        properties = body["mappings"]["properties"]
        assert properties["temperature"] == {"type": "float"}
        assert properties["device_id"] == {"type": "keyword"}
        assert properties["ts"]["type"] == "date"


def test_a_value_that_does_not_fit_its_mapping_fails_only_its_item(loaded):
    docs = [
        {"_index": "sensor-log-2026-11-22-13", "_id": "good-1", "_source": {"temperature": 21.0}},
        {"_index": "sensor-log-2026-11-22-13", "_id": "bad", "_source": {"temperature": "abc"}},
        {"_index": "sensor-log-2026-11-22-13", "_id": "good-2", "_source": {"temperature": 22.0}},
    ]
    succeeded, errors = helpers.bulk(loaded, docs, raise_on_error=False)
    assert succeeded == 2
    (failure,) = errors
    assert failure["index"]["_id"] == "bad"
    assert failure["index"]["status"] == 400
    assert failure["index"]["error"]["type"] == "mapper_parsing_exception"
    assert "[temperature] of type [float]" in failure["index"]["error"]["reason"]
    assert loaded.count(index="sensor-log-2026-11-22-13")["count"] == 2
    with pytest.raises(helpers.BulkIndexError) as raised:
        helpers.bulk(
            loaded, [{"_index": "sensor-log-2026-11-22-13", "_source": {"ts": "yesterday"}}]
        )
    assert raised.value.errors[0]["index"]["error"]["type"] == "mapper_parsing_exception"


def test_create_on_an_existing_id_is_a_version_conflict(loaded):
    doc = {
        "_op_type": "create",
        "_index": "sensor-log-2026-11-22-10",
        "_id": "sensehat-01:0",
        "_source": {"seq": 0},
    }
    _, errors = helpers.bulk(loaded, [doc], raise_on_error=False)
    assert errors[0]["create"]["status"] == 409
    assert errors[0]["create"]["error"]["type"] == "version_conflict_engine_exception"


def test_dashboard_average_temperature_and_humidity_per_hour(loaded):
    response = loaded.search(
        index="sensor-log-*",
        body={
            "size": 0,
            "query": {
                "range": {
                    "ts": {
                        "gte": "2026-11-22T00:00:00.000Z",
                        "lte": "2026-11-22T23:59:59.999Z",
                        "format": "strict_date_optional_time",
                    }
                }
            },
            "aggs": {
                "per_hour": {
                    "date_histogram": {
                        "field": "ts",
                        "calendar_interval": "1h",
                        "time_zone": "UTC",
                        "min_doc_count": 1,
                    },
                    "aggs": {
                        "temperature": {"avg": {"field": "temperature"}},
                        "humidity": {"avg": {"field": "humidity"}},
                    },
                }
            },
        },
    )
    assert response["hits"]["total"] == {"value": 6, "relation": "eq"}
    buckets = response["aggregations"]["per_hour"]["buckets"]
    assert [b["key_as_string"] for b in buckets] == [
        "2026-11-22T10:00:00.000Z",
        "2026-11-22T11:00:00.000Z",
        "2026-11-22T12:00:00.000Z",
    ]
    assert [b["doc_count"] for b in buckets] == [3, 1, 2]
    assert [b["temperature"]["value"] for b in buckets] == [20.0, 19.0, 24.0]
    assert [b["humidity"]["value"] for b in buckets] == [pytest.approx(142 / 3), 62.0, 40.0]


def test_dashboard_devices_with_their_maximum_temperature(loaded):
    response = loaded.search(
        index="sensor-log-*",
        body={
            "size": 0,
            "aggs": {
                "devices": {
                    "terms": {"field": "device_id", "size": 10},
                    "aggs": {"max_temperature": {"max": {"field": "temperature"}}},
                }
            },
        },
    )
    buckets = response["aggregations"]["devices"]["buckets"]
    assert [(b["key"], b["doc_count"], b["max_temperature"]["value"]) for b in buckets] == [
        ("sensehat-01", 3, 23.0),
        ("sensehat-02", 2, 19.0),
        ("sensehat-03", 1, 25.0),
    ]


def test_range_filter_on_ts_with_sorted_hits(loaded):
    response = loaded.search(
        index="sensor-log-*",
        body={
            "query": {
                "bool": {
                    "filter": [
                        {
                            "range": {
                                "ts": {"gte": "2026-11-22T10:30:00Z", "lt": "2026-11-22T12:30:00Z"}
                            }
                        }
                    ]
                }
            },
            "sort": [{"ts": {"order": "asc"}}],
        },
    )
    hits = response["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["sensehat-01:1", "sensehat-02:3", "sensehat-01:4"]
    assert hits[0]["_source"]["temperature"] == 21.5
    assert hits[0]["_index"] == "sensor-log-2026-11-22-10"


def test_hourly_indices_are_matched_by_the_pattern_and_counted_by_cat(loaded):
    header, *rows = [
        line.split() for line in loaded.cat.indices(index="sensor-log-*", v=True).splitlines()
    ]
    assert header[2] == "index" and header[6] == "docs.count"
    assert sorted((r[2], r[6]) for r in rows) == [
        ("sensor-log-2026-11-22-10", "3"),
        ("sensor-log-2026-11-22-11", "1"),
        ("sensor-log-2026-11-22-12", "2"),
    ]
    assert all(r[0] == "green" and r[1] == "open" for r in rows)
    assert loaded.count(index="sensor-log-2026-11-22-1*")["count"] == 6
    assert loaded.count(index="sensor-log-2026-11-22-10,sensor-log-2026-11-22-12")["count"] == 5


def test_documents_and_errors_through_the_client(loaded):
    found = loaded.search(
        index="sensor-log-2026-11-22-11", body={"query": {"term": {"_id": "sensehat-02:3"}}}
    )
    assert found["hits"]["hits"][0]["_source"]["temperature"] == 19.0
    with pytest.raises(NotFoundError) as missing:
        loaded.search(index="no-such-index")
    assert missing.value.error == "index_not_found_exception"
    with pytest.raises(RequestError) as unsupported:
        loaded.transport.perform_request("GET", "/_nodes/stats")
    assert "not supported by the emulated OpenSearch" in str(unsupported.value.info)


def test_filter_path_is_refused_not_ignored(loaded):
    with pytest.raises(RequestError) as refused:
        loaded.search(index="sensor-log-*", body={"size": 1}, params={"filter_path": "hits.total"})
    assert "filter_path parameter is not supported" in str(refused.value.info)


def test_documents_survive_a_restart(tmp_path):
    data_dir = tmp_path / "search"
    port = free_port()
    with OpenSearchEmulator(port=port, data_dir=data_dir, ism_interval_seconds=None) as first:
        client = OpenSearch(hosts=[first.endpoint])
        client.indices.put_index_template(name="sensor-log", body=SENSOR_TEMPLATE)
        helpers.bulk(client, actions())
        replaced = {"device_id": "sensehat-02", "temperature": 30.0}
        helpers.bulk(
            client,
            [{"_index": "sensor-log-2026-11-22-11", "_id": "sensehat-02:3", "_source": replaced}],
        )
    with OpenSearchEmulator(port=port, data_dir=data_dir, ism_interval_seconds=None) as second:
        client = OpenSearch(hosts=[second.endpoint])
        assert client.count(index="sensor-log-*")["count"] == 6
        updated = client.search(
            index="sensor-log-2026-11-22-11",
            body={"query": {"term": {"_id": "sensehat-02:3"}}},
        )["hits"]["hits"][0]
        assert updated["_source"]["temperature"] == 30.0
        response = client.search(
            index="sensor-log-*", body={"size": 0, "aggs": {"t": {"max": {"field": "temperature"}}}}
        )
        assert response["aggregations"]["t"]["value"] == 30.0
        # the template still applies to indices created after the restart
        helpers.bulk(
            client,
            [{"_index": "sensor-log-2026-11-22-14", "_source": {"temperature": "x"}}],
            raise_on_error=False,
        )
        assert client.count(index="sensor-log-2026-11-22-14")["count"] == 0


def test_basic_auth_sigv4_and_compression_are_accepted(emulator):
    basic = OpenSearch(hosts=[emulator.endpoint], http_auth=("admin", "admin"), http_compress=True)
    helpers.bulk(basic, [{"_index": "auth-test", "_id": "1", "_source": {"a": 1}}])
    credentials = botocore.credentials.Credentials("AKIDEXAMPLE", "secret")
    signed = OpenSearch(
        hosts=[emulator.endpoint],
        http_auth=AWSV4SignerAuth(credentials, "us-east-1", "es"),
        connection_class=RequestsHttpConnection,
    )
    assert signed.count(index="auth-test")["count"] == 1


def test_parallel_bulk_over_kept_alive_connections(client):
    client.indices.put_index_template(name="sensor-log", body=SENSOR_TEMPLATE)
    docs = (
        {
            "_index": f"sensor-log-2026-11-22-{n % 3:02d}",
            "_id": str(n),
            "_source": {"seq": n, "temperature": n / 4},
        }
        for n in range(2_000)
    )
    results = list(helpers.parallel_bulk(client, docs, thread_count=4, chunk_size=250))
    assert all(ok for ok, _ in results) and len(results) == 2_000
    assert client.count(index="sensor-log-*")["count"] == 2_000
    distinct = client.search(
        index="sensor-log-*", body={"size": 0, "aggs": {"s": {"cardinality": {"field": "seq"}}}}
    )
    assert distinct["aggregations"]["s"]["value"] == 2_000


def test_ism_policy_and_roles_mapping_through_the_plugin_clients(client):
    policy = {
        "policy": {
            "description": "delete hourly indices after 7 days",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        {"state_name": "delete", "conditions": {"min_index_age": "7d"}}
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": ["sensor-log-*"], "priority": 100}],
        }
    }
    created = client.plugins.index_management.put_policy(policy="sensor-log-retention", body=policy)
    assert created["_id"] == "sensor-log-retention"
    stored = client.plugins.index_management.get_policy(policy="sensor-log-retention")
    assert stored["policy"]["states"][1]["actions"] == [{"delete": {}}]
    with pytest.raises(ConflictError):
        client.plugins.index_management.put_policy(policy="sensor-log-retention", body=policy)
    helpers.bulk(client, [{"_index": "sensor-log-2026-11-22-10", "_source": {"a": 1}}])
    explained = client.plugins.index_management.explain_index(index="sensor-log-2026-11-22-10")
    assert explained["sensor-log-2026-11-22-10"]["policy_id"] == "sensor-log-retention"
    mapping = {"backend_roles": ["arn:aws:iam::123456789012:role/search-setup"]}
    assert (
        client.security.create_role_mapping(role="all_access", body=mapping)["status"] == "CREATED"
    )
    assert (
        client.security.get_role_mapping(role="all_access")["all_access"]["backend_roles"]
        == mapping["backend_roles"]
    )


def test_standalone_command_serves_and_stops_on_sigterm(tmp_path):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "localcloud.opensearch.server",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "d"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for_port(port)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/_bulk",
            data=b'{"index":{"_index":"cli-test","_id":"1"}}\n{"a": 1}\n',
            method="POST",
            headers={"Content-Type": "application/x-ndjson"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback http)
            assert json.load(response)["items"][0]["index"]["result"] == "created"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_cat/indices", timeout=10
        ) as response:
            assert response.read().decode().split()[2] == "cli-test"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"emulated OpenSearch listening on http://127.0.0.1:{port}" in output.decode()
    assert (tmp_path / "d" / "indices" / "cli-test" / "docs.jsonl").read_text().count("\n") == 1


def test_dashboards_saved_objects_are_imported_over_http(emulator):
    objects = [
        {
            "type": "index-pattern",
            "id": "sensor-log",
            "attributes": {"title": "sensor-log-*", "timeFieldName": "ts"},
        },
        {
            "type": "dashboard",
            "id": "sensor-log",
            "attributes": {"title": "Sensor log", "panelsJSON": "[]"},
            "references": [{"name": "index", "type": "index-pattern", "id": "sensor-log"}],
        },
    ]
    ndjson = "".join(json.dumps(o) + "\n" for o in objects)
    url = f"{emulator.endpoint}/_dashboards/api/saved_objects"
    response = requests.post(
        f"{url}/_import",
        params={"overwrite": "true"},
        headers={"osd-xsrf": "true"},
        files={"file": ("export.ndjson", ndjson, "application/ndjson")},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["success"] is True and response.json()["successCount"] == 2
    found = requests.get(
        f"{url}/_find", params=[("type", "index-pattern"), ("type", "dashboard")], timeout=30
    )
    assert found.json()["total"] == 2
    refused = requests.post(f"{url}/_import", files={"file": ("x.ndjson", ndjson)}, timeout=30)
    assert refused.status_code == 400 and "osd-xsrf" in refused.json()["message"]


def test_the_ism_timer_deletes_expired_indices(tmp_path):
    policy = {
        "policy": {
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "transitions": [{"state_name": "gone", "conditions": {"min_index_age": "1ms"}}],
                },
                {"name": "gone", "actions": [{"delete": {}}]},
            ],
            "ism_template": {"index_patterns": ["scratch-*"], "priority": 1},
        }
    }
    with OpenSearchEmulator(data_dir=tmp_path / "d", ism_interval_seconds=0.05) as running:
        client = OpenSearch(hosts=[running.endpoint])
        client.plugins.index_management.put_policy(policy="scratch", body=policy)
        helpers.bulk(
            client, [{"_index": name, "_source": {"a": 1}} for name in ("scratch-1", "kept-1")]
        )
        deadline = time.monotonic() + 30
        while "scratch-1" in client.cat.indices() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.cat.indices().split()[2] == "kept-1"
