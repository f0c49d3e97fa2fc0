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


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_nodes/stats"),
        ("POST", "/_reindex"),
        ("GET", "/idx/_termvectors/1"),
        ("GET", "/_alias"),
        ("GET", "/"),
        ("DELETE", "/readings"),
        ("POST", "/_refresh"),
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
    assert call(api, "DELETE", "/_index_template/sensor-log")[0] == 405


def test_an_index_is_created_by_its_first_write(api):
    call(
        api,
        "PUT",
        "/_index_template/readings",
        {
            "index_patterns": ["readings"],
            "template": {"mappings": {"properties": {"t": {"type": "float"}}}},
        },
    )
    status, body = call(api, "GET", "/readings/_mapping")
    assert status == 404 and body["error"]["type"] == "index_not_found_exception"
    put_doc(api, "readings", "1", {"t": 1.5})
    assert call(api, "GET", "/readings/_mapping")[1] == {
        "readings": {"mappings": {"properties": {"t": {"type": "float"}}}}
    }


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
    status, body = call(api, "PUT", "/_index_template/t", "{not json")
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
    status, text = call(api, "GET", "/_cat/indices/sensor-log-*", v="")
    assert status == 200
    header, *rows = [line.split() for line in text.splitlines()]
    assert header[:3] == ["health", "status", "index"] and header[6] == "docs.count"
    assert [(r[2], r[6], r[0], r[1]) for r in rows] == [
        ("sensor-log-2026-11-22-10", "3", "green", "open"),
        ("sensor-log-2026-11-22-11", "2", "green", "open"),
    ]
    assert rows[0][8].endswith("b")
    status, text = call(api, "GET", "/_cat/indices")
    assert [line.split()[2] for line in text.splitlines()] == [
        "other",
        "sensor-log-2026-11-22-10",
        "sensor-log-2026-11-22-11",
    ]
    assert call(api, "GET", "/sensor-log-*/_count")[1]["count"] == 5


def test_search_endpoint_with_get_and_post(api):
    put_doc(api, "i", "1", {"device_id": "a"})
    put_doc(api, "i", "2", {"device_id": "b"})
    status, body = call(api, "POST", "/i/_search", {"query": {"term": {"device_id.keyword": "b"}}})
    assert [h["_id"] for h in body["hits"]["hits"]] == ["2"]
    status, body = call(api, "GET", "/_search", {"size": 1})
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
    status, body = call(api, "PUT", "/_index_template/sensor-log", template, create="true")
    assert status == 400 and "already exists" in body["error"]["reason"]
    put_doc(api, "sensor-log-1", "1", {"ts": "2026-11-22T10:00:00Z"})
    assert api.store.index("sensor-log-1").mapping.body["properties"]["ts"] == {"type": "date"}


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
    put_doc(api, "logs-1", "1", {"n": 1})
    status, body = call(api, "GET", "/_plugins/_ism/explain/logs-1")
    assert body["logs-1"]["index.plugins.index_state_management.policy_id"] == "retention"
    assert body["total_managed_indices"] == 1
    put_doc(api, "plain", "1", {"n": 1})
    status, body = call(api, "POST", "/_plugins/_ism/add/plain", {"policy_id": "retention"})
    assert body == {"updated_indices": 1, "failures": False, "failed_indices": []}
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
