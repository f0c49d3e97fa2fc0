"""The set-up custom resource against the emulated OpenSearch: the writer role, the document id
pipeline (new and existing hourly indices key documents by (device_id, seq)), the index
template, the ISM retention policy (and that it deletes expired hourly indices), and the
Dashboards saved objects; run again, it updates in place. The handler reads the master user from
Secrets Manager (moto), with properties as CloudFormation sends them (scalars as strings)."""

import json
import time
import urllib.request
from types import SimpleNamespace

import boto3
import pytest

from cdk_app.search import SAVED_OBJECTS
from localcloud.opensearch.server import OpenSearchEmulator
from search_setup import handler
from search_setup.dashboards import SavedObjectsRefused, import_saved_objects
from search_setup.document_id import document_id_pipeline
from search_setup.setup import install

pytestmark = pytest.mark.integration

AUTH = ("admin", "Secret-Passw0rd")
DAY_MS = 86_400_000
WRITER = "arn:aws:iam::123456789012:role/search-delivery"


@pytest.fixture
def search():
    with OpenSearchEmulator(ism_interval_seconds=None) as emulator:
        yield emulator


def call(search, method, path, body=None):
    request = urllib.request.Request(  # noqa: S310 - the local emulation
        search.endpoint + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "osd-xsrf": "true"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def deadline():
    return time.monotonic() + 30


def index_reading(search, index, seq=1):
    reading = {
        "device_id": "pi-a",
        "seq": seq,
        "ts": "2026-11-22T10:00:00.000Z",
        "temperature": 21.5,
    }
    bulk_as_firehose(search, index, [(f"pi-a-{seq}", reading)])


def test_install_sets_up_everything(search):
    installed = install(
        search.endpoint,
        AUTH,
        "sensor-log",
        [WRITER],
        deadline(),
        retention_days=30,
        saved_objects=SAVED_OBJECTS.read_text(encoding="utf-8"),
    )
    assert installed == [
        "/_plugins/_security/api/roles/sensor_log_writer",
        "/_plugins/_security/api/rolesmapping/sensor_log_writer",
        "/_ingest/pipeline/sensor-log-document-id",
        "/_index_template/sensor-log",
        "/sensor-log-%2A/_settings",
        "/_plugins/_ism/policies/sensor-log-retention",
        "/_plugins/_ism/add/sensor-log-%2A",
        "/_dashboards/api/saved_objects/_import",
    ]
    mapping = call(search, "GET", "/_plugins/_security/api/rolesmapping/sensor_log_writer")
    assert mapping["sensor_log_writer"]["backend_roles"] == [WRITER]
    pipeline = call(search, "GET", "/_ingest/pipeline/sensor-log-document-id")
    assert pipeline == {"sensor-log-document-id": document_id_pipeline()}
    policy = call(search, "GET", "/_plugins/_ism/policies/sensor-log-retention")["policy"]
    hot = next(s for s in policy["states"] if s["name"] == "hot")
    assert hot["transitions"][0]["conditions"] == {"min_index_age": "30d"}
    found = call(
        search,
        "GET",
        "/_dashboards/api/saved_objects/_find?type=index-pattern&type=visualization"
        "&type=dashboard&per_page=100",
    )
    kinds = sorted(o["type"] for o in found["saved_objects"])
    assert kinds == ["dashboard", "index-pattern"] + ["visualization"] * 4
    pattern = call(search, "GET", "/_dashboards/api/saved_objects/index-pattern/sensor-log")
    assert pattern["attributes"]["title"] == "sensor-log-*"


def test_new_hourly_indices_follow_the_template_and_are_deleted_after_the_retention(search):
    install(search.endpoint, AUTH, "sensor-log", [WRITER], deadline(), retention_days=3)
    index = "sensor-log-2026-11-22-10"
    index_reading(search, index)
    mapping = call(search, "GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping["ts"]["type"] == "date" and mapping["device_id"]["type"] == "keyword"
    explain = call(search, "GET", f"/_plugins/_ism/explain/{index}")
    assert explain[index]["policy_id"] == "sensor-log-retention"
    now = search.store.clock()
    assert search.store.run_ism(now + 2 * DAY_MS) == []
    assert search.store.run_ism(now + 3 * DAY_MS + 60_000) == [index]


def bulk_as_firehose(search, index, deliveries):
    """`index` actions with Firehose's ids, as the delivery stream sends them."""
    lines = []
    for firehose_id, reading in deliveries:
        lines += [{"index": {"_index": index, "_id": firehose_id}}, reading]
    request = urllib.request.Request(  # noqa: S310 - the local emulation
        search.endpoint + "/_bulk",
        data="".join(json.dumps(line) + "\n" for line in lines).encode(),
        method="POST",
        headers={"Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = json.loads(response.read())
    assert body["errors"] is False, body
    return [item["index"]["_id"] for item in body["items"]]


def test_new_and_existing_hourly_indices_key_documents_by_device_and_seq(search):
    existing = "sensor-log-2026-11-22-09"
    index_reading(search, existing, seq=1)  # before the set-up: keeps its id
    install(search.endpoint, AUTH, "sensor-log", [WRITER], deadline())
    new = "sensor-log-2026-11-22-10"
    reading = {"device_id": "pi-a", "seq": 2, "ts": "2026-11-22T10:00:00.000Z"}
    assert bulk_as_firehose(search, new, [("shardId-000000000000-1", reading)]) == ["pi-a:2"]
    assert bulk_as_firehose(search, new, [("shardId-000000000000-7", reading)]) == ["pi-a:2"]
    assert bulk_as_firehose(search, existing, [("shardId-000000000000-1", reading)]) == ["pi-a:2"]
    settings = call(search, "GET", f"/{existing}/_settings")[existing]["settings"]["index"]
    assert settings["default_pipeline"] == "sensor-log-document-id"
    assert call(search, "GET", f"/{new}/_count")["count"] == 1
    assert call(search, "GET", f"/{existing}/_count")["count"] == 2  # pi-a-1 and pi-a:2


def test_indices_older_than_the_policy_are_attached_too(search):
    index_reading(search, "sensor-log-2026-11-21-23")
    install(search.endpoint, AUTH, "sensor-log", [WRITER], deadline(), retention_days=30)
    explain = call(search, "GET", "/_plugins/_ism/explain/sensor-log-2026-11-21-23")
    assert explain["sensor-log-2026-11-21-23"]["policy_id"] == "sensor-log-retention"


def test_running_again_updates_the_policy_and_overwrites_the_objects(search):
    ndjson = SAVED_OBJECTS.read_text(encoding="utf-8")
    install(search.endpoint, AUTH, "sensor-log", [WRITER], deadline(), 30, ndjson)
    index_reading(search, "sensor-log-2026-11-22-11")
    install(
        search.endpoint,
        AUTH,
        "sensor-log",
        [WRITER, "arn:aws:iam::1:role/b"],
        deadline(),
        7,
        ndjson,
    )
    stored = call(search, "GET", "/_plugins/_ism/policies/sensor-log-retention")
    hot = next(s for s in stored["policy"]["states"] if s["name"] == "hot")
    assert hot["transitions"][0]["conditions"] == {"min_index_age": "7d"}
    assert stored["_version"] == 2
    mapping = call(search, "GET", "/_plugins/_security/api/rolesmapping/sensor_log_writer")
    assert len(mapping["sensor_log_writer"]["backend_roles"]) == 2
    found = call(search, "GET", "/_dashboards/api/saved_objects/_find?type=visualization")
    assert found["total"] == 4


def test_a_refused_saved_object_fails_the_set_up_with_its_reason(search):
    orphan = {
        "type": "visualization",
        "id": "orphan",
        "attributes": {"title": "Orphan", "visState": "{}"},
        "references": [{"name": "x", "type": "index-pattern", "id": "no-such-pattern"}],
    }
    with pytest.raises(SavedObjectsRefused, match="visualization/orphan: missing_references"):
        import_saved_objects(search.endpoint, AUTH, json.dumps(orphan) + "\n", deadline())


def lambda_context():
    return SimpleNamespace(
        function_name="search-setup",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:search-setup",
        aws_request_id="request-1",
        get_remaining_time_in_millis=lambda: 120_000,
    )


def test_the_handler_installs_with_cloudformation_s_properties(search, aws):
    secret = boto3.client("secretsmanager").create_secret(
        Name="opensearch-master",
        SecretString=json.dumps({"username": AUTH[0], "password": AUTH[1]}),
    )
    event = {
        "RequestType": "Create",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
            "DomainEndpoint": search.endpoint,
            "MasterSecretArn": secret["ARN"],
            "IndexName": "sensor-log",
            "WriterRoleArns": [WRITER],
            "RetentionDays": "14",
            "SavedObjects": SAVED_OBJECTS.read_text(encoding="utf-8"),
        },
    }
    result = handler.lambda_handler(event, lambda_context())
    assert result["PhysicalResourceId"] == "opensearch-setup-sensor-log"
    assert "/_dashboards/api/saved_objects/_import" in result["Data"]["Installed"]
    assert len(json.dumps(result)) < 4096  # CloudFormation's limit for a response
    policy = call(search, "GET", "/_plugins/_ism/policies/sensor-log-retention")["policy"]
    hot = next(s for s in policy["states"] if s["name"] == "hot")
    assert hot["transitions"][0]["conditions"] == {"min_index_age": "14d"}


def test_the_template_s_own_properties_set_up_the_domain(search, aws, cdk_out):
    """The custom resource as synthesized: its literal properties (index name, retention, the
    saved objects read from dashboards/ at synth time), with the references it resolves on
    deploy replaced by the emulation and moto, each scalar a string as CloudFormation sends it."""
    template = json.loads((cdk_out / "SensorPipeline.template.json").read_text())
    (props,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "Custom::OpenSearchSetup"
    ]
    assert props["SavedObjects"] == SAVED_OBJECTS.read_text(encoding="utf-8")
    secret = boto3.client("secretsmanager").create_secret(
        Name="master", SecretString=json.dumps({"username": AUTH[0], "password": AUTH[1]})
    )
    event = {
        "RequestType": "Create",
        "ResourceProperties": {
            **{
                k: v if isinstance(v, str) else str(v)
                for k, v in props.items()
                if k in ("IndexName", "RetentionDays", "SavedObjects")
            },
            "DomainEndpoint": search.endpoint,
            "MasterSecretArn": secret["ARN"],
            "WriterRoleArns": [WRITER],
        },
    }
    handler.lambda_handler(event, lambda_context())
    policy = call(search, "GET", "/_plugins/_ism/policies/sensor-log-retention")["policy"]
    hot = next(s for s in policy["states"] if s["name"] == "hot")
    assert hot["transitions"][0]["conditions"] == {"min_index_age": "30d"}  # cdk.json's default
    dashboard = call(search, "GET", "/_dashboards/api/saved_objects/dashboard/sensor-readings")
    assert dashboard["attributes"]["title"] == "Sensor readings"
