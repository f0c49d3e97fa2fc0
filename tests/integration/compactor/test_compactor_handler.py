"""The Lambda entry point end to end on moto: S3 notifications and the schedule, boto3 clients
from the environment, moto's Athena (which runs no SQL but keeps the API) and the EMF metrics."""

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from compactor_objects import raw_object, s3_event

from compactor import handler
from compactor.athena import AthenaQueries
from compactor.batches import SUCCEEDED
from compactor.objects import format_time
from compactor.service import UnsupportedEvent
from localcloud.lambda_.sources import scheduled_event

pytestmark = pytest.mark.integration

SCHEDULE_RULE = "arn:aws:events:us-east-1:123456789012:rule/compactor-tail"


@dataclass
class Context:
    function_name: str = "compactor"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:compactor"
    aws_request_id: str = "0f6f1c3e-1111-2222-3333-444455556666"

    def get_remaining_time_in_millis(self):
        return 120_000


def recent(i, minutes_ago=1):
    """A raw object created a little while ago (younger than the maximum age)."""
    obj = raw_object(i)
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago) + timedelta(milliseconds=i)
    return type(obj)(obj.bucket, obj.key, obj.dt, obj.hour, format_time(created))


def queue_athena_result(*dates):
    """The result moto's Athena returns to the next query that asks for results."""
    rows = [{"Data": [{"VarCharValue": "reading_date"}]}]
    rows += [{"Data": [{"VarCharValue": d}]} for d in dates]
    response = requests.post(
        f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/static/athena/query-results",
        json={"results": [{"rows": rows, "column_info": []}]},
        timeout=10,
    )
    assert response.status_code == 201


def metrics(output):
    """The EMF documents Powertools printed: metric name -> value."""
    values = {}
    for line in output.splitlines():
        if line.startswith("{") and "_aws" in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[definition["Name"]]
                values[definition["Name"]] = value[0] if isinstance(value, list) else value
    return values


@pytest.fixture
def athena_workgroup(cloud):
    boto3.client("athena").create_work_group(Name="sensor-pipeline")
    return cloud


def put_raw(cloud, objects):
    for obj in objects:
        cloud.s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=b"{}\n")


def test_the_twentieth_object_claims_a_batch_and_runs_it(athena_workgroup, capsys):
    """moto's Athena runs no SQL: the discover query finds no reading dates here, so the batch
    needs no CTAS (the CTAS itself runs in test_ctas_local_athena.py)."""
    cloud = athena_workgroup
    objects = [recent(i) for i in range(20)]
    put_raw(cloud, objects)
    context = Context()
    for obj in objects[:19]:
        summary = handler.lambda_handler(s3_event(obj), context)
        assert summary["claimed"] == []
    again = handler.lambda_handler(s3_event(objects[3], objects[5]), context)  # re-delivered
    assert (again["counted"], again["duplicates"], again["pending"]) == (0, 2, 19)
    capsys.readouterr()

    summary = handler.lambda_handler(s3_event(objects[19]), context)

    [batch_id] = summary["claimed"]
    assert summary["succeeded"] == [batch_id]
    assert summary["pending"] == 0
    emitted = metrics(capsys.readouterr().out)
    assert emitted["BatchesClaimed"] == 1
    assert emitted["BatchesCompacted"] == 1
    assert emitted["ObjectsCounted"] == 1
    batch = cloud.store.load_batch(batch_id)
    assert batch.status == SUCCEEDED
    assert batch.dates == ()
    assert {o.key for o in batch.objects} == {o.key for o in objects}
    tagging = cloud.s3.get_object_tagging(Bucket="sensor-data", Key=objects[0].key)
    assert tagging["TagSet"] == [{"Key": "compacted", "Value": "true"}]


@pytest.mark.usefixtures("athena_workgroup")
def test_discovered_dates_come_back_through_the_athena_api():
    """The boto3 adapter reads a SELECT's rows (header skipped) from GetQueryResults."""
    queue_athena_result("2026-11-21", "2026-11-22")
    engine = AthenaQueries(boto3.client("athena"), "sensor-pipeline", "sensor_pipeline")
    query_id = engine.start("SELECT 1", "a" * 32)
    assert engine.status(query_id).state in {"QUEUED", "RUNNING", "SUCCEEDED"}
    assert engine.rows(query_id) == [["2026-11-21"], ["2026-11-22"]]


def test_the_schedule_compacts_an_old_tail(athena_workgroup):
    cloud = athena_workgroup
    old = [recent(i, minutes_ago=61) for i in range(3)]
    put_raw(cloud, old)
    for obj in old:  # counted an hour ago, when they were young
        cloud.store.register(obj, datetime.now(UTC) - timedelta(minutes=61))
    summary = handler.lambda_handler(scheduled_event(SCHEDULE_RULE), Context())
    assert summary["kind"] == "schedule"
    [batch_id] = summary["claimed"]
    assert summary["succeeded"] == [batch_id]
    assert cloud.store.load_batch(batch_id).reason == "age"


def test_compact_pending_claims_young_objects_the_schedule_leaves(athena_workgroup):
    cloud = athena_workgroup
    young = [recent(i) for i in range(3)]
    put_raw(cloud, young)
    for obj in young:
        cloud.store.register(obj, datetime.now(UTC))
    assert handler.lambda_handler(scheduled_event(SCHEDULE_RULE), Context())["claimed"] == []
    summary = handler.lambda_handler({"action": "compact-pending"}, Context())
    assert summary["kind"] == "compact-pending"
    [batch_id] = summary["claimed"]
    assert summary["succeeded"] == [batch_id] and summary["pending"] == 0
    assert {o.key for o in cloud.store.load_batch(batch_id).objects} == {o.key for o in young}


def test_bad_records_are_reported_and_the_good_ones_counted(cloud):
    good = recent(1)
    event = s3_event(good)
    foreign = json.loads(json.dumps(event["Records"][0]))
    foreign["s3"]["object"]["key"] = "errors/invalid/x.jsonl"
    event["Records"].append(foreign)
    summary = handler.lambda_handler(event, Context())
    assert (summary["counted"], summary["rejected"]) == (1, 1)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_other_events_are_refused_and_the_s3_test_event_ignored(cloud):
    with pytest.raises(UnsupportedEvent, match="expected an S3 ObjectCreated"):
        handler.lambda_handler({"hello": "world"}, Context())
    with pytest.raises(UnsupportedEvent, match="compact-pending"):
        handler.lambda_handler({"action": "compact-everything"}, Context())
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "sensor-data"}
    assert handler.lambda_handler(test_event, Context())["kind"] == "s3-test-event"
