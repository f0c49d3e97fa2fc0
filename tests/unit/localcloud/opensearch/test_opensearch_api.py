"""The emulated OpenSearch's REST layer without HTTP: routing, `_bulk`, `_cat`, errors."""

import pytest
from opensearch_rest import call, ndjson, put

from localcloud.opensearch.api import Api
from localcloud.opensearch.store import Store


@pytest.fixture
def api():
    return Api(Store())


def put_doc(api, index, doc_id, source):
    status, _ = put(api, index, doc_id, source)
    assert status in (200, 201)


def test_root_says_it_is_emulated(api):
    status, body = call(api, "GET", "/")
    assert status == 200
    assert body["version"]["distribution"] == "opensearch"
    assert body["version"]["number"].startswith("2.")
    assert "emulated" in body["name"] and "emulated" in body["tagline"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_nodes/stats"),
        ("POST", "/_reindex"),
        ("GET", "/idx/_termvectors/1"),
        ("GET", "/_alias"),
    ],
)
def test_unknown_endpoints_are_not_supported(api, method, path):
    status, body = call(api, method, path)
    assert status == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert (
        body["error"]["reason"] == f"[{method} {path}] is not supported by the emulated OpenSearch"
    )
    assert body["error"]["root_cause"][0]["reason"] == body["error"]["reason"]


def test_a_wrong_method_is_a_405(api):
    status, body = call(api, "GET", "/_bulk")
    assert status == 405
    assert "allowed: [POST, PUT]" in body["error"]


def test_index_lifecycle(api):
    assert call(api, "HEAD", "/readings")[0] == 404
    status, body = call(
        api, "PUT", "/readings", {"mappings": {"properties": {"t": {"type": "float"}}}}
    )
    assert (status, body) == (
        200,
        {"acknowledged": True, "shards_acknowledged": True, "index": "readings"},
    )
    assert call(api, "HEAD", "/readings") == (200, None)
    status, body = call(api, "GET", "/readings")
    assert body["readings"]["mappings"] == {"properties": {"t": {"type": "float"}}}
    assert body["readings"]["settings"]["index"]["number_of_replicas"] == "1"
    assert call(api, "GET", "/readings/_mapping")[1] == {
        "readings": {"mappings": {"properties": {"t": {"type": "float"}}}}
    }
    status, body = call(api, "PUT", "/readings")
    assert status == 400 and body["error"]["type"] == "resource_already_exists_exception"
    assert call(api, "DELETE", "/readings") == (200, {"acknowledged": True})
    status, body = call(api, "GET", "/readings")
    assert status == 404 and body["error"]["type"] == "index_not_found_exception"


def test_single_document_endpoints_are_not_emulated(api):
    for method, path in (
        ("PUT", "/readings/_doc/1"),
        ("POST", "/readings/_doc"),
        ("GET", "/readings/_doc/1"),
        ("PUT", "/readings/_create/1"),
        ("POST", "/readings/_update/1"),
        ("GET", "/readings/_source/1"),
    ):
        status, body = call(api, method, path, {"t": 1})
        assert status == 400, (method, path)
        assert "not supported by the emulated OpenSearch" in body["error"]["reason"]


def test_bulk_reports_each_item(api):
    call(
        api,
        "PUT",
        "/_index_template/sensor-log",
        {
            "index_patterns": ["sensor-log-*"],
            "template": {"mappings": {"properties": {"temperature": {"type": "float"}}}},
        },
    )
    payload = ndjson(
        {"index": {"_index": "sensor-log-2026-11-22-10", "_id": "1"}},
        {"temperature": 20.5},
        {"create": {"_index": "sensor-log-2026-11-22-10", "_id": "2"}},
        {"temperature": "abc"},
        {"create": {"_index": "sensor-log-2026-11-22-10", "_id": "1"}},
        {"temperature": 21.0},
        {"index": {}},
        {"temperature": 22.0},
    )
    status, body = call(api, "POST", "/sensor-log-2026-11-22-10/_bulk", payload)
    assert status == 200 and body["errors"] is True
    items = body["items"]
    assert [next(iter(item)) for item in items] == [
        "index",
        "create",
        "create",
        "index",
    ]
    statuses = [next(iter(item.values()))["status"] for item in items]
    assert statuses == [201, 400, 409, 201]
    assert items[1]["create"]["error"]["type"] == "mapper_parsing_exception"
    assert (
        "failed to parse field [temperature] of type [float]"
        in items[1]["create"]["error"]["reason"]
    )
    assert items[2]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert items[3]["index"]["_index"] == "sensor-log-2026-11-22-10"
    assert call(api, "GET", "/sensor-log-*/_count")[1]["count"] == 2


def test_bulk_item_with_unparseable_source_fails_alone(api):
    payload = (
        '{"index":{"_index":"i","_id":"1"}}\n{"t": oops}\n'
        '{"index":{"_index":"i","_id":"2"}}\n{"t": 1}\n'
    )
    status, body = call(api, "POST", "/_bulk", payload)
    assert status == 200 and body["errors"]
    assert body["items"][0]["index"]["error"]["type"] == "mapper_parsing_exception"
    assert body["items"][1]["index"]["status"] == 201


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"index":{"_index":"i"}}\n{"t":1}', "must be terminated by a newline"),
        ('{"upsert":{"_index":"i"}}\n{"t":1}\n', "expected one of [create, index]"),
        ('{"index":{}}\n{"t":1}\n', "index is missing"),
        ('{"index":{"_index":"i","colour":1}}\n{"t":1}\n', "unknown parameter [colour]"),
        (
            '{"index":{"_index":"i","pipeline":{}}}\n{"t":1}\n',
            "expected a simple value for field [pipeline] but found [START_OBJECT]",
        ),
        ("not json\n", "Malformed action/metadata line [1]"),
        ("\n", "no requests added"),
    ],
)
def test_malformed_bulk_requests_fail_as_a_whole(api, payload, message):
    status, body = call(api, "POST", "/_bulk", payload)
    assert status == 400
    assert message in body["error"]["reason"]
    assert api.store.indices == {}


def test_invalid_json_body(api):
    status, body = call(api, "PUT", "/i", "{not json")
    assert status == 400 and body["error"]["type"] == "json_parse_exception"


def test_cat_indices_and_count(api):
    call(
        api,
        "PUT",
        "/_index_template/t",
        {"index_patterns": ["sensor-log-*"], "template": {"settings": {"number_of_replicas": 0}}},
    )
    for hour, docs in (("10", 3), ("11", 2)):
        for n in range(docs):
            put_doc(api, f"sensor-log-2026-11-22-{hour}", f"{n}", {"n": n})
    put_doc(api, "other", "1", {"n": 1})
    status, rows = call(api, "GET", "/_cat/indices/sensor-log-*", format="json")
    assert status == 200
    assert [(r["index"], r["docs.count"], r["health"], r["status"]) for r in rows] == [
        ("sensor-log-2026-11-22-10", "3", "green", "open"),
        ("sensor-log-2026-11-22-11", "2", "green", "open"),
    ]
    assert rows[0]["store.size"].endswith("b")
    status, text = call(
        api, "GET", "/_cat/indices", v="", h="index,docs.count", s="docs.count:desc"
    )
    assert text.splitlines() == [
        "index                    docs.count",
        "sensor-log-2026-11-22-10 3",
        "sensor-log-2026-11-22-11 2",
        "other                    1",
    ]


def test_search_endpoint_with_get_and_post(api):
    put_doc(api, "i", "1", {"device_id": "a"})
    put_doc(api, "i", "2", {"device_id": "b"})
    status, body = call(api, "POST", "/i/_search", {"query": {"term": {"device_id.keyword": "b"}}})
    assert [h["_id"] for h in body["hits"]["hits"]] == ["2"]
    status, body = call(api, "GET", "/_search", q="*", size=1)
    assert status == 200 and len(body["hits"]["hits"]) == 1
    status, body = call(api, "GET", "/_all/_search")
    assert body["hits"]["total"]["value"] == 2
    status, body = call(api, "GET", "/i/_search", q="device_id:a")
    assert status == 400 and "not supported by the emulated OpenSearch" in body["error"]["reason"]


def test_index_templates_over_rest(api):
    template = {
        "index_patterns": ["sensor-log-*"],
        "priority": 5,
        "template": {"mappings": {"properties": {"ts": {"type": "date"}}}},
    }
    assert call(api, "PUT", "/_index_template/sensor-log", template) == (
        200,
        {"acknowledged": True},
    )
    status, body = call(api, "GET", "/_index_template/sensor-log")
    (entry,) = body["index_templates"]
    assert entry["name"] == "sensor-log"
    assert entry["index_template"]["index_patterns"] == ["sensor-log-*"]
    assert entry["index_template"]["priority"] == 5
    assert call(api, "HEAD", "/_index_template/sensor-log")[0] == 200
    status, body = call(api, "PUT", "/_index_template/sensor-log", template, create="true")
    assert status == 400 and "already exists" in body["error"]["reason"]
    assert call(api, "DELETE", "/_index_template/sensor-log")[0] == 200
    assert call(api, "GET", "/_index_template/sensor-log")[0] == 404


def test_ism_over_rest(api):
    policy = {
        "policy": {
            "default_state": "hot",
            "states": [{"name": "hot", "actions": [], "transitions": []}],
            "ism_template": {"index_patterns": ["logs-*"], "priority": 1},
        }
    }
    status, body = call(api, "PUT", "/_plugins/_ism/policies/retention", policy)
    assert status == 201 and body["_id"] == "retention"
    status, body = call(api, "PUT", "/_plugins/_ism/policies/retention", policy)
    assert status == 409
    status, body = call(api, "GET", "/_plugins/_ism/policies/retention")
    assert body["policy"]["default_state"] == "hot" and body["_seq_no"] == 0
    call(api, "PUT", "/logs-1")
    status, body = call(api, "GET", "/_plugins/_ism/explain/logs-1")
    assert body["logs-1"]["index.plugins.index_state_management.policy_id"] == "retention"
    assert body["total_managed_indices"] == 1
    call(api, "PUT", "/plain")
    status, body = call(api, "POST", "/_plugins/_ism/add/plain", {"policy_id": "retention"})
    assert body == {"updated_indices": 1, "failures": False, "failed_indices": []}
    assert call(api, "GET", "/_plugins/_ism/policies")[1]["total_policies"] == 1
    status, body = call(api, "GET", "/_plugins/_ism/policies/nope")
    assert status == 404 and body["error"]["reason"] == "Policy not found"


def test_roles_mapping_over_rest(api):
    path = "/_plugins/_security/api/rolesmapping/all_access"
    mapping = {"backend_roles": ["arn:aws:iam::123456789012:role/search-setup"]}
    assert call(api, "PUT", path, mapping) == (
        201,
        {"status": "CREATED", "message": "'all_access' created."},
    )
    assert call(api, "PUT", path, mapping) == (
        200,
        {"status": "OK", "message": "'all_access' updated."},
    )
    body = call(api, "GET", path)[1]
    assert body["all_access"]["backend_roles"] == mapping["backend_roles"]
    assert call(api, "PUT", path, {"colour": "red"})[0] == 400
    assert call(api, "GET", "/_plugins/_security/api/rolesmapping/nobody")[0] == 404
