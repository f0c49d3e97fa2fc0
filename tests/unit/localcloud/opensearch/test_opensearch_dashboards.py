"""The emulated Dashboards saved objects API: import, conflicts, references, find, persistence."""

import json

import pytest

from localcloud.opensearch.api import Api
from localcloud.opensearch.store import Store

BOUNDARY = "----sensorpipeline"
PATTERN = {
    "type": "index-pattern",
    "id": "sensor-log",
    "attributes": {"title": "sensor-log-*", "timeFieldName": "ts"},
}
VISUALIZATION = {
    "type": "visualization",
    "id": "avg-temperature-per-hour",
    "attributes": {"title": "Average temperature per hour", "visState": "{}"},
    "references": [
        {
            "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            "type": "index-pattern",
            "id": "sensor-log",
        }
    ],
}
DASHBOARD = {
    "type": "dashboard",
    "id": "sensor-log",
    "attributes": {"title": "Sensor log", "panelsJSON": "[]"},
    "references": [{"name": "panel_0", "type": "visualization", "id": "avg-temperature-per-hour"}],
}
SUMMARY = {"exportedCount": 3, "missingRefCount": 0, "missingReferences": []}


def multipart(objects):
    ndjson = "".join(json.dumps(o) + "\n" for o in objects)
    body = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="export.ndjson"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
        f"{ndjson}\r\n--{BOUNDARY}--\r\n"
    ).encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "osd-xsrf": "true"}


def import_objects(api, objects, **params):
    body, headers = multipart(objects)
    response = api.handle(
        "POST",
        "/_dashboards/api/saved_objects/_import",
        {k: str(v) for k, v in params.items()},
        body,
        headers,
    )
    return response.status, response.body


@pytest.fixture
def api():
    return Api(Store())


def test_import_then_read_back(api):
    status, body = import_objects(api, [PATTERN, VISUALIZATION, DASHBOARD, SUMMARY])
    assert status == 200
    assert body["success"] is True and body["successCount"] == 3
    assert {(r["type"], r["id"]) for r in body["successResults"]} == {
        ("index-pattern", "sensor-log"),
        ("visualization", "avg-temperature-per-hour"),
        ("dashboard", "sensor-log"),
    }
    response = api.handle("GET", "/_dashboards/api/saved_objects/dashboard/sensor-log", {}, b"")
    assert response.status == 200
    assert response.body["attributes"]["title"] == "Sensor log"
    assert response.body["references"] == DASHBOARD["references"]
    found = api.handle(
        "GET", "/_dashboards/api/saved_objects/_find", {"type": "visualization,dashboard"}, b""
    ).body
    assert found["total"] == 2
    assert [o["id"] for o in found["saved_objects"]] == ["sensor-log", "avg-temperature-per-hour"]
    searched = api.handle(
        "GET",
        "/_dashboards/api/saved_objects/_find",
        {"type": "visualization", "search": "temperature*"},
        b"",
    ).body
    assert searched["total"] == 1


def test_existing_objects_conflict_unless_overwritten(api):
    import_objects(api, [PATTERN])
    status, body = import_objects(api, [PATTERN])
    assert status == 200 and body["success"] is False and body["successCount"] == 0
    assert body["errors"][0]["error"] == {"type": "conflict"}
    status, body = import_objects(api, [PATTERN], overwrite="true")
    assert body["success"] is True and body["successResults"][0]["overwrite"] is True


def test_a_missing_index_pattern_fails_only_the_objects_that_need_it(api):
    _status, body = import_objects(
        api, [VISUALIZATION, {**PATTERN, "id": "other", "attributes": {"title": "other-*"}}]
    )
    assert body["success"] is False and body["successCount"] == 1
    (error,) = body["errors"]
    assert error["id"] == "avg-temperature-per-hour"
    assert error["error"]["type"] == "missing_references"
    assert error["error"]["references"] == [{"type": "index-pattern", "id": "sensor-log"}]


def test_unknown_types_and_malformed_files(api):
    _status, body = import_objects(api, [{"type": "lens", "id": "x", "attributes": {}}])
    assert body["errors"][0]["error"] == {"type": "unsupported_type"}
    raw, headers = multipart([])
    raw = raw.replace(b"\r\n\r\n\r\n", b"\r\n\r\n{broken\r\n")
    response = api.handle("POST", "/_dashboards/api/saved_objects/_import", {}, raw, headers)
    assert response.status == 400 and "not JSON" in response.body["message"]


def test_writes_need_the_osd_xsrf_header(api):
    body, headers = multipart([PATTERN])
    headers = {"Content-Type": headers["Content-Type"], "kbn-xsrf": "true"}
    response = api.handle("POST", "/_dashboards/api/saved_objects/_import", {}, body, headers)
    assert response.status == 400
    assert response.body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Request must contain a osd-xsrf header.",
    }
    assert api.store.saved_objects == {}


def test_a_missing_object_is_a_404_and_single_object_writes_are_not_emulated(api):
    path = "/_dashboards/api/saved_objects/index-pattern/sensor-log"
    missing = api.handle("GET", path, {}, b"")
    assert (
        missing.status == 404
        and missing.body["message"] == "Saved object [index-pattern/sensor-log] not found"
    )
    assert api.handle("DELETE", path, {}, b"", {"osd-xsrf": "true"}).status == 405


def test_saved_objects_survive_a_restart(tmp_path):
    store = Store(tmp_path)
    import_objects(Api(store), [PATTERN, VISUALIZATION, DASHBOARD])
    store.close()
    again = Api(Store(tmp_path))
    assert (
        again.handle(
            "GET", "/_dashboards/api/saved_objects/visualization/avg-temperature-per-hour", {}, b""
        ).status
        == 200
    )
