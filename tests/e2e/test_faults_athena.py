"""An Athena query of the compactor fails, then succeeds on retry; every reading is still compacted
exactly once (`make test-full`).

The fault goes through the Athena API, as an operator's mistake would: the workgroup's result
location is pointed at a bucket that does not exist (UpdateWorkGroup), so the compactor's first
query of the batch ends FAILED ("Unable to verify/create output bucket ..."). The compactor
records the failure and schedules the batch's retry (athena/compaction.md: one minute, doubling).
The test then restores the location; the schedule's next invocation after the delay retries the
same batch, which succeeds.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from faults_support import (
    Account,
    Pipeline,
    say,
    scenario_pipeline,
    settle,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

THING = "fault-athena"
ROWS = 300
UNAVAILABLE = "s3://sensorpipeline-results-unavailable/"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with scenario_pipeline(tmp_path_factory, "athena") as running:
        yield running


def compactor_queries(workgroup: str) -> list[dict[str, Any]]:
    """The workgroup's query executions that read raw objects by "$path" (the compactor's)."""
    athena = boto3.client("athena")
    ids: list[str] = []
    for page in athena.get_paginator("list_query_executions").paginate(WorkGroup=workgroup):
        ids += page["QueryExecutionIds"]
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 50):
        response = athena.batch_get_query_execution(QueryExecutionIds=ids[start : start + 50])
        found += response["QueryExecutions"]
    return [q for q in found if '"$path" IN' in q["Query"]]


def result_location(workgroup: str, location: str) -> None:
    boto3.client("athena").update_work_group(
        WorkGroup=workgroup,
        ConfigurationUpdates={"ResultConfigurationUpdates": {"OutputLocation": location}},
    )


@pytest.fixture(scope="module")
def retried(pipeline: Pipeline):
    workgroup = pipeline.names.workgroup
    athena = boto3.client("athena")
    configuration = athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]["Configuration"]
    location = configuration["ResultConfiguration"]["OutputLocation"]
    result_location(workgroup, UNAVAILABLE)
    say(f"workgroup {workgroup}: result location {UNAVAILABLE}")
    try:
        publisher = pipeline.publisher(THING, ROWS).start()
        publisher.finish()
        expected = settle(pipeline, publisher)
        failed: list[dict[str, Any]] = []

        def a_query_failed() -> bool:
            pipeline.fire_compactor_schedule()  # the tail is claimed once it is due
            failed[:] = [
                q for q in compactor_queries(workgroup) if q["Status"]["State"] == "FAILED"
            ]
            return bool(failed)

        wait_for(a_query_failed, 300, "a compactor query fails", 5)
    finally:
        result_location(workgroup, location)
        say(f"workgroup {workgroup}: result location {location} again")
    pipeline.wait_compacted(THING, len(expected))
    return failed, compactor_queries(workgroup), Account.of(pipeline, THING, expected)


def test_the_query_failed_because_of_the_result_location(retried):
    failed, _, _ = retried
    (query,) = failed
    assert "Unable to verify/create output bucket" in query["Status"]["StateChangeReason"]
    assert query["ResultConfiguration"]["OutputLocation"].startswith(UNAVAILABLE)


def test_the_retry_ran_the_same_query_and_it_succeeded(retried):
    failed, queries, _ = retried
    (query,) = failed
    again = [
        q["Status"]["State"]
        for q in queries
        if q["Query"] == query["Query"] and q["QueryExecutionId"] != query["QueryExecutionId"]
    ]
    assert again == ["SUCCEEDED"]


def test_every_reading_is_compacted_exactly_once_after_the_retry(retried):
    *_, account = retried
    account.assert_complete()
