"""The local Athena's API as boto3 and the AWS CLI use it: asynchronous executions, paging,
result files, workgroups, named queries, idempotency, stopping, and running it standalone."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.athena.server import AthenaServer
from localcloud.core.ports import free_port, wait_for_port

pytestmark = pytest.mark.integration

RESULTS = "query-results"
AWS_CLI = Path(sys.executable).with_name("aws")
# A query that runs until it is stopped (DuckDB would need minutes for it).
ENDLESS = (
    "SELECT count(*) FROM UNNEST(sequence(1, 100000)) AS a(x) "
    "CROSS JOIN UNNEST(sequence(1, 100000)) AS b(y) WHERE (x * y) % 7 = 3"
)


@pytest.fixture
def athena(aws, monkeypatch):
    with AthenaServer(min_bytes_cutoff=0, max_concurrent_queries=1) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket=RESULTS)
        yield server


@pytest.fixture
def client(athena):
    return boto3.client("athena", config=Config(parameter_validation=False))


def start(client, sql: str, **kwargs) -> str:
    kwargs.setdefault("ResultConfiguration", {"OutputLocation": f"s3://{RESULTS}/adhoc/"})
    return client.start_query_execution(QueryString=sql, **kwargs)["QueryExecutionId"]


def wait(client, query_id: str, states=("SUCCEEDED", "FAILED", "CANCELLED")) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in states:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} never reached {states}")


def test_queries_run_asynchronously_and_results_page_by_1000(client):
    query_id = start(client, "SELECT x, x * x AS square FROM UNNEST(sequence(1, 2500)) AS t(x)")
    execution = wait(client, query_id)
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["StatementType"] == "DML"
    assert execution["QueryExecutionContext"]["Database"] == "default"
    assert execution["Statistics"]["DataScannedInBytes"] == 0
    assert execution["Status"]["CompletionDateTime"] >= execution["Status"]["SubmissionDateTime"]
    pages = list(client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id))
    assert [len(page["ResultSet"]["Rows"]) for page in pages] == [1000, 1000, 501]
    values = [
        [cell["VarCharValue"] for cell in row["Data"]]
        for page in pages
        for row in page["ResultSet"]["Rows"]
    ]
    assert values[0] == ["x", "square"]
    assert values[1:] == [[str(x), str(x * x)] for x in range(1, 2501)]
    small = client.get_query_results(QueryExecutionId=query_id, MaxResults=10)
    assert len(small["ResultSet"]["Rows"]) == 10
    following = client.get_query_results(
        QueryExecutionId=query_id, MaxResults=10, NextToken=small["NextToken"]
    )
    assert following["ResultSet"]["Rows"][0]["Data"][0]["VarCharValue"] == "10"
    with pytest.raises(ClientError, match="MaxResults"):
        client.get_query_results(QueryExecutionId=query_id, MaxResults=1001)
    with pytest.raises(ClientError, match="NextToken"):
        client.get_query_results(QueryExecutionId=query_id, NextToken="bm90LWEtdG9rZW4=")


def test_results_csv_quotes_values_and_leaves_nulls_empty(client):
    query_id = start(client, "SELECT 'a \"quoted\" word' AS text, CAST(NULL AS varchar) AS nothing")
    execution = wait(client, query_id)
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{RESULTS}/adhoc/{query_id}.csv"
    body = boto3.client("s3").get_object(Bucket=RESULTS, Key=f"adhoc/{query_id}.csv")["Body"]
    assert body.read() == b'"text","nothing"\n"a ""quoted"" word",\n'
    row = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1]
    assert row["Data"] == [{"VarCharValue": 'a "quoted" word'}, {}]


def test_an_output_location_is_required_somewhere(client):
    with pytest.raises(ClientError, match="No output location provided"):
        client.start_query_execution(QueryString="SELECT 1")


def test_workgroup_configuration_is_kept_and_enforced(client):
    client.create_work_group(
        Name="analytics",
        Description="enforced results",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/analytics/"},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 10_000_000_000,
        },
    )
    group = client.get_work_group(WorkGroup="analytics")["WorkGroup"]
    assert group["State"] == "ENABLED"
    assert group["Configuration"]["BytesScannedCutoffPerQuery"] == 10_000_000_000
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{RESULTS}/analytics/"
    )
    with pytest.raises(ClientError, match="does not implement ListWorkGroups"):
        client.list_work_groups()
    query_id = start(client, "SELECT 1", WorkGroup="analytics")  # asks for adhoc/, gets analytics/
    execution = wait(client, query_id)
    assert execution["WorkGroup"] == "analytics"
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{RESULTS}/analytics/{query_id}.csv"
    )
    assert client.list_query_executions(WorkGroup="analytics")["QueryExecutionIds"] == [query_id]
    assert client.list_query_executions()["QueryExecutionIds"] == []
    with pytest.raises(ClientError, match="already created"):
        client.create_work_group(Name="analytics")
    with pytest.raises(ClientError, match="is not found"):
        start(client, "SELECT 1", WorkGroup="nope")


def test_an_enforcing_workgroup_refuses_ctas_with_external_location(client):
    client.create_work_group(
        Name="enforced",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/enforced/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    with pytest.raises(ClientError, match="enforces a centralized output location"):
        start(
            client,
            "CREATE TABLE t WITH (external_location = 's3://elsewhere/t/') AS SELECT 1 AS a",
            WorkGroup="enforced",
        )
    boto3.client("glue").create_database(DatabaseInput={"Name": "default"})
    query_id = start(client, "CREATE TABLE t AS SELECT 1 AS a", WorkGroup="enforced")
    assert wait(client, query_id)["Status"]["State"] == "SUCCEEDED"
    table = boto3.client("glue").get_table(DatabaseName="default", Name="t")["Table"]
    location = f"s3://{RESULTS}/enforced/tables/{query_id}/"
    assert table["StorageDescriptor"]["Location"] == location
    listed = boto3.client("s3").list_objects_v2(
        Bucket=RESULTS, Prefix=f"enforced/tables/{query_id}/"
    )
    assert listed["KeyCount"] == 1


def test_a_workgroup_location_is_a_default_when_not_enforced(client):
    client.create_work_group(
        Name="loose",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/loose/"},
            "EnforceWorkGroupConfiguration": False,
        },
    )
    own = wait(client, start(client, "SELECT 1", WorkGroup="loose"))
    default = wait(client, start(client, "SELECT 1", WorkGroup="loose", ResultConfiguration={}))
    assert own["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS}/adhoc/")
    assert default["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS}/loose/")


def test_cutoff_below_the_api_minimum_is_rejected_by_default(aws):
    with AthenaServer() as server:
        client = boto3.client(
            "athena", endpoint_url=server.endpoint, config=Config(parameter_validation=False)
        )
        with pytest.raises(ClientError, match="at least 10000000"):
            client.create_work_group(
                Name="tiny", Configuration={"BytesScannedCutoffPerQuery": 1000}
            )


def test_client_request_token_makes_start_idempotent(client):
    token = "a" * 40
    first = start(client, "SELECT 1", ClientRequestToken=token)
    assert start(client, "SELECT 1", ClientRequestToken=token) == first
    with pytest.raises(ClientError, match="Idempotent parameters do not match"):
        start(client, "SELECT 2", ClientRequestToken=token)
    assert start(client, "SELECT 1") != first  # boto3 sends a fresh token per call


def test_stop_cancels_running_and_queued_queries(client):
    running = start(client, ENDLESS)
    queued = start(client, "SELECT 1")  # one worker: waits behind the endless query
    wait(client, running, states=("RUNNING",))
    assert (
        client.get_query_execution(QueryExecutionId=queued)["QueryExecution"]["Status"]["State"]
        == "QUEUED"
    )
    with pytest.raises(ClientError, match=r"Query has not yet finished\. Current state: QUEUED"):
        client.get_query_results(QueryExecutionId=queued)
    client.stop_query_execution(QueryExecutionId=queued)
    client.stop_query_execution(QueryExecutionId=running)
    assert wait(client, queued)["Status"]["State"] == "CANCELLED"
    assert wait(client, running)["Status"]["State"] == "CANCELLED"
    after = wait(client, start(client, "SELECT 42"))  # the worker is free again
    assert after["Status"]["State"] == "SUCCEEDED"
    client.stop_query_execution(QueryExecutionId=after["QueryExecutionId"])  # no effect
    assert wait(client, after["QueryExecutionId"])["Status"]["State"] == "SUCCEEDED"


def test_batch_get_and_unknown_ids(client):
    first = start(client, "SELECT 1")
    second = start(client, "SELEC 1")
    wait(client, first)
    wait(client, second)
    batch = client.batch_get_query_execution(QueryExecutionIds=[first, second, "missing"])
    states = {q["QueryExecutionId"]: q["Status"]["State"] for q in batch["QueryExecutions"]}
    assert states == {first: "SUCCEEDED", second: "FAILED"}
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["missing"]
    with pytest.raises(ClientError, match="InvalidRequestException"):
        client.get_query_execution(QueryExecutionId="missing")
    listed = client.list_query_executions(MaxResults=1)
    assert listed["QueryExecutionIds"] == [second]
    assert client.list_query_executions(NextToken=listed["NextToken"])["QueryExecutionIds"] == [
        first
    ]


def test_named_queries(client):
    created = client.create_named_query(
        Name="daily counts",
        Database="sensors",
        QueryString="SELECT dt, count(*) FROM raw GROUP BY dt",
        Description="readings per day",
    )["NamedQueryId"]
    named = client.get_named_query(NamedQueryId=created)["NamedQuery"]
    assert (named["Name"], named["Database"], named["WorkGroup"]) == (
        "daily counts",
        "sensors",
        "primary",
    )
    assert client.list_named_queries()["NamedQueryIds"] == [created]
    with pytest.raises(ClientError, match="was not found"):
        client.get_named_query(NamedQueryId="missing")


def test_a_missing_output_bucket_fails_the_query(client):
    query_id = start(client, "SELECT 1", ResultConfiguration={"OutputLocation": "s3://nobucket/"})
    execution = wait(client, query_id)
    assert execution["Status"]["State"] == "FAILED"
    assert (
        "Unable to verify/create output bucket nobucket"
        in (execution["Status"]["StateChangeReason"])
    )


def aws_cli(*args: str, endpoint: str) -> dict:
    completed = subprocess.run(
        [str(AWS_CLI), "athena", *args, "--endpoint-url", endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ.copy(),
    )
    return json.loads(completed.stdout) if completed.stdout.strip() else {}


def test_the_aws_cli_runs_a_query_and_reads_its_results(athena):
    started = aws_cli(
        "start-query-execution",
        "--query-string",
        "SELECT x AS n, 'v' || CAST(x AS varchar) AS label FROM UNNEST(sequence(1, 3)) AS t(x)",
        "--result-configuration",
        f"OutputLocation=s3://{RESULTS}/cli/",
        endpoint=athena.endpoint,
    )
    query_id = started["QueryExecutionId"]
    state = ""
    deadline = time.monotonic() + 60
    while state not in ("SUCCEEDED", "FAILED") and time.monotonic() < deadline:
        execution = aws_cli(
            "get-query-execution", "--query-execution-id", query_id, endpoint=athena.endpoint
        )
        state = execution["QueryExecution"]["Status"]["State"]
    assert state == "SUCCEEDED"
    results = aws_cli(
        "get-query-results", "--query-execution-id", query_id, endpoint=athena.endpoint
    )
    rows = [[c["VarCharValue"] for c in row["Data"]] for row in results["ResultSet"]["Rows"]]
    assert rows == [["n", "label"], ["1", "v1"], ["2", "v2"], ["3", "v3"]]


def test_python_m_localcloud_athena_serves_until_terminated(aws):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.athena.server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_port(port, timeout=60)
        boto3.client("s3").create_bucket(Bucket=RESULTS)
        client = boto3.client("athena", endpoint_url=f"http://127.0.0.1:{port}")
        query_id = start(client, "SELECT 6 * 7 AS answer")
        assert wait(client, query_id)["Status"]["State"] == "SUCCEEDED"
        rows = client.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        assert rows[1]["Data"] == [{"VarCharValue": "42"}]
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert process.stdout.read().strip() == f"athena listening on http://127.0.0.1:{port}"
