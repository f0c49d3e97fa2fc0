"""The emulated OpenSearch's ingest pipelines: the `_ingest/pipeline` API, the `set` processor
with template snippets, and which pipelines run on `_bulk` writes.

The pipelines here are generic examples; the project's own document id rule is tested with the
pipeline the search set-up installs (tests/unit/search_setup/test_document_id.py)."""

import pytest
from opensearch_rest import call, ndjson, put

from localcloud.opensearch.api import Api
from localcloud.opensearch.store import Store

KEYED = {
    "description": "id from the document",
    "processors": [{"set": {"field": "_id", "value": "{{sensor}}/{{n}}"}}],
}
TEMPLATE = {
    "index_patterns": ["logs-*"],
    "template": {"settings": {"number_of_replicas": 0, "default_pipeline": "keyed"}},
}


@pytest.fixture
def api():
    return Api(Store())


@pytest.fixture
def keyed(api):
    assert call(api, "PUT", "/_ingest/pipeline/keyed", KEYED) == (200, {"acknowledged": True})
    assert call(api, "PUT", "/_index_template/logs", TEMPLATE)[0] == 200
    return api


def source_of(api, index, doc_id):
    return api.store.index(index).docs[doc_id].source


def ids(api, index="logs-*"):
    body = call(api, "POST", f"/{index}/_search", {"size": 100, "sort": [{"n": "asc"}]})[1]
    return [(hit["_index"], hit["_id"]) for hit in body["hits"]["hits"]]


def test_pipelines_are_stored_and_read(api):
    assert call(api, "GET", "/_ingest/pipeline") == (404, {})
    assert call(api, "PUT", "/_ingest/pipeline/keyed", KEYED) == (200, {"acknowledged": True})
    assert call(api, "PUT", "/_ingest/pipeline/other", KEYED)[0] == 200
    assert call(api, "GET", "/_ingest/pipeline/keyed") == (200, {"keyed": KEYED})
    assert set(call(api, "GET", "/_ingest/pipeline")[1]) == {"keyed", "other"}
    assert set(call(api, "GET", "/_ingest/pipeline/k*,other")[1]) == {"keyed", "other"}
    assert call(api, "GET", "/_ingest/pipeline/missing") == (404, {})
    assert call(api, "DELETE", "/_ingest/pipeline/keyed")[0] == 405


def test_an_unknown_processor_type_is_refused_as_opensearch_does(api):
    body = {"processors": [{"set": {"field": "a", "value": 1}}, {"no_such": {"tag": "t"}}]}
    status, answer = call(api, "PUT", "/_ingest/pipeline/bad", body)
    assert status == 400
    assert answer["status"] == 400
    assert answer["error"]["type"] == "parse_exception"
    assert answer["error"]["reason"] == "No processor type exists with name [no_such]"
    assert answer["error"]["processor_type"] == "no_such"
    assert answer["error"]["processor_tag"] == "t"
    assert answer["error"]["root_cause"][0]["reason"] == answer["error"]["reason"]
    assert api.store.pipelines == {}


@pytest.mark.parametrize(
    ("body", "error_type", "reason"),
    [
        ({"processors": [{"rename": {"field": "a"}}]}, "illegal_argument_exception", "[rename]"),
        ({"description": "no processors"}, "parse_exception", "[processors] required property"),
        ({"processors": [{"set": {"field": "a"}}]}, "parse_exception", "[value] required"),
        (
            {"processors": [{"set": {"field": "a", "value": 1, "colour": 2}}]},
            "parse_exception",
            "doesn't support one or more provided configuration parameters [colour]",
        ),
        ({"processors": [], "_meta": {}}, "parse_exception", "parameters [_meta]"),
        (
            {"processors": [{"set": {"field": "a", "value": 1, "if": "ctx.a == null"}}]},
            "parse_exception",
            "not supported by the emulated OpenSearch",
        ),
        (
            {"processors": [{"set": {"field": "a", "value": "{{#list}}x{{/list}}"}}]},
            "parse_exception",
            "not supported by the emulated OpenSearch",
        ),
        (
            {"processors": [{"set": {"field": "_routing", "value": "r"}}]},
            "parse_exception",
            "setting [_routing] is not supported",
        ),
        (
            {"processors": [{"set": {"field": "a", "value": 1, "override": "no"}}]},
            "parse_exception",
            "[override] property isn't a boolean",
        ),
    ],
)
def test_invalid_pipelines_are_refused_when_stored(api, body, error_type, reason):
    status, answer = call(api, "PUT", "/_ingest/pipeline/bad", body)
    assert status == 400
    assert answer["error"]["type"] == error_type
    assert reason in answer["error"]["reason"]


def test_the_default_pipeline_sets_the_id_of_bulk_documents(keyed):
    payload = ndjson(
        {"index": {"_index": "logs-1", "_id": "sent-1"}},
        {"sensor": "a", "n": 1},
        {"index": {"_index": "logs-1", "_id": "sent-2"}},
        {"sensor": "b", "n": 1},
        {"index": {"_index": "logs-1"}},
        {"sensor": "a", "n": 2},
    )
    status, body = call(keyed, "POST", "/_bulk", payload)
    assert status == 200 and body["errors"] is False
    assert [item["index"]["_id"] for item in body["items"]] == ["a/1", "b/1", "a/2"]
    assert [item["index"]["result"] for item in body["items"]] == ["created"] * 3
    settings = call(keyed, "GET", "/logs-1/_settings")[1]["logs-1"]["settings"]
    assert settings["index"]["default_pipeline"] == "keyed"


def test_a_repeated_index_action_overwrites_and_a_create_conflicts(keyed):
    first = ndjson({"index": {"_index": "logs-1", "_id": "x"}}, {"sensor": "a", "n": 1})
    again = ndjson({"index": {"_index": "logs-1", "_id": "y"}}, {"sensor": "a", "n": 1})
    create = ndjson({"create": {"_index": "logs-1", "_id": "z"}}, {"sensor": "a", "n": 1})
    call(keyed, "POST", "/_bulk", first)
    (item,) = call(keyed, "POST", "/_bulk", again)[1]["items"]
    assert item["index"]["result"] == "updated" and item["index"]["_version"] == 2
    body = call(keyed, "POST", "/_bulk", create)[1]
    assert body["errors"] is True
    (item,) = body["items"]
    assert item["create"]["status"] == 409
    assert item["create"]["_id"] == "a/1"
    assert item["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert ids(keyed) == [("logs-1", "a/1")]


def test_the_request_pipeline_wins_and_none_runs_nothing(keyed):
    other = {"processors": [{"set": {"field": "_id", "value": "other-{{n}}"}}]}
    call(keyed, "PUT", "/_ingest/pipeline/other", other)
    payload = ndjson(
        {"index": {"_index": "logs-1", "_id": "kept", "pipeline": "_none"}},
        {"sensor": "a", "n": 1},
        {"index": {"_index": "logs-1", "_id": "x", "pipeline": "other"}},
        {"sensor": "a", "n": 2},
        {"index": {"_index": "logs-1", "_id": "y"}},
        {"sensor": "a", "n": 3},
    )
    body = call(keyed, "POST", "/_bulk", payload, pipeline="other")[1]
    assert [item["index"]["_id"] for item in body["items"]] == ["kept", "other-2", "other-3"]


def test_a_missing_pipeline_fails_only_its_documents(api):
    call(api, "PUT", "/_index_template/logs", TEMPLATE)  # names "keyed", which does not exist
    payload = ndjson(
        {"index": {"_index": "logs-1"}},
        {"sensor": "a", "n": 1},
        {"index": {"_index": "plain"}},
        {"sensor": "a", "n": 1},
    )
    body = call(api, "POST", "/_bulk", payload)[1]
    failed, written = (item["index"] for item in body["items"])
    assert failed["status"] == 400
    assert failed["error"]["type"] == "illegal_argument_exception"
    assert failed["error"]["reason"] == "pipeline with id [keyed] does not exist"
    assert written["status"] == 201
    assert "logs-1" not in api.store.indices


def test_an_existing_index_gets_a_default_pipeline_as_a_setting(api):
    call(api, "PUT", "/_ingest/pipeline/keyed", KEYED)
    put(api, "old", "before", {"sensor": "a", "n": 1})
    call(api, "PUT", "/old/_settings", {"index": {"default_pipeline": "keyed"}})
    assert put(api, "old", "after", {"sensor": "a", "n": 2})[1]["_id"] == "a/2"
    assert [i for _, i in ids(api, "old")] == ["before", "a/2"]


def test_the_final_pipeline_runs_after_the_default_one(keyed):
    stamp = {"processors": [{"set": {"field": "checked", "value": "{{_id}}"}}]}
    call(keyed, "PUT", "/_ingest/pipeline/stamp", stamp)
    settings = {"default_pipeline": "keyed", "final_pipeline": "stamp"}
    template = {"index_patterns": ["logs-3"], "priority": 50, "template": {"settings": settings}}
    call(keyed, "PUT", "/_index_template/logs-3", template)
    put(keyed, "logs-3", "x", {"sensor": "d", "n": 4})
    assert source_of(keyed, "logs-3", "d/4")["checked"] == "d/4"


@pytest.mark.parametrize(
    ("value", "document", "expected"),
    [
        ("{{a}}:{{b}}", {"a": "x:y", "b": 12}, "x:y:12"),
        ("{{a.b}}-{{missing}}-{{n}}", {"a": {"b": "deep"}, "n": None}, "deep--"),
        (
            "{{f}} {{g}} {{h}} {{t}}",
            {"f": 20.5, "g": 1e7, "h": 1e-4, "t": True},
            "20.5 1.0E7 1.0E-4 true",
        ),
        # {{...}} escapes for JSON, {{{...}}} and {{&...}} do not; comments render as nothing
        ("{{q}}|{{{q}}}|{{&q}}{{! a comment }}", {"q": 'a "b"\\'}, 'a \\"b\\"\\\\|a "b"\\|a "b"\\'),
        ("{{_index}}/{{_source.a}}", {"a": "v"}, "logs-1/v"),
    ],
)
def test_template_snippets_render_fields_as_opensearch_does(api, value, document, expected):
    pipeline = {"processors": [{"set": {"field": "out", "value": value}}]}
    call(api, "PUT", "/_ingest/pipeline/p", pipeline)
    put(api, "logs-1", "1", document, pipeline="p")
    assert source_of(api, "logs-1", "1")["out"] == expected


def test_set_writes_nested_fields_the_index_and_respects_its_options(api):
    pipeline = {
        "processors": [
            {"set": {"field": "meta.source", "value": "{{sensor}}"}},
            {"set": {"field": "sensor", "value": "never", "override": False}},
            {"set": {"field": "empty", "value": "{{missing}}", "ignore_empty_value": True}},
            {"set": {"field": "sensor.x", "value": 1, "ignore_failure": True}},
            {"set": {"field": "_index", "value": "routed-{{sensor}}"}},
        ]
    }
    call(api, "PUT", "/_ingest/pipeline/p", pipeline)
    status, body = put(api, "inbox", "1", {"sensor": "a"}, pipeline="p")
    assert (status, body["_index"]) == (201, "routed-a")
    assert source_of(api, "routed-a", "1") == {"sensor": "a", "meta": {"source": "a"}}
    assert "inbox" not in api.store.indices


def test_an_array_in_a_snippet_fails_the_document(api):
    call(
        api,
        "PUT",
        "/_ingest/pipeline/p",
        {"processors": [{"set": {"field": "_id", "value": "{{l}}"}}]},
    )
    status, body = put(api, "i", "1", {"l": [1, 2]}, pipeline="p")
    assert status == 400
    assert "not supported by the emulated OpenSearch" in body["error"]["reason"]


def test_pipelines_survive_a_restart(tmp_path):
    store = Store(tmp_path)
    call(Api(store), "PUT", "/_ingest/pipeline/keyed", KEYED)
    store.close()
    assert Store(tmp_path).pipelines == {"keyed": KEYED}
