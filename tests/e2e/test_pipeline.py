"""The whole pipeline on the local cloud: a shorter replay of the real Sense HAT log through the
device publisher, MQTT (mTLS), the topic rule, Kinesis, both Firehoses, the compactor and Athena,
with the same accounting as `make demo`; then the AWS CLI against the running local cloud."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alerter.evaluation import apply, evaluate
from alerter.thresholds import ThresholdConfig, resolve
from demo.accounting import json_lines
from demo.alert_accounting import alert_history
from demo.run import Demo

pytestmark = pytest.mark.e2e
ROWS = 600
AWS = [str(Path(sys.executable).parent / "aws")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    state = tmp_path_factory.mktemp("demo")
    out = tmp_path_factory.mktemp("out")
    demo = Demo(state, out, rows=ROWS, compact_pending=True)  # the tail: the slow fault suite
    try:
        summary = demo.run(timeout=600)
        yield demo, summary, out
    finally:
        demo.stop()


def aws_cli(demo, *args):
    env = {**os.environ, **demo.cloud.env()}
    result = subprocess.run(
        [*AWS, *args, "--output", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_every_reading_is_accounted_for(finished_demo):
    _demo, summary, _out = finished_demo
    assert summary.published == ROWS
    assert summary.raw == ROWS
    assert summary.compacted == ROWS
    assert summary.search == ROWS
    assert summary.search_repeats == 0  # one document per reading: keyed by (device_id, seq)
    assert summary.lost == 0
    assert summary.duplicates == 0
    assert summary.invalid == 0
    assert summary.line() == (
        f"SUMMARY published={ROWS} raw={ROWS} compacted={ROWS} search={ROWS} lost=0 duplicates=0"
    )


def test_analysis_results_are_written(finished_demo):
    _demo, _summary, out = finished_demo
    with (out / "hourly_profile.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["device_id", "hour_of_day", "avg_temperature"]
    overall = [r for r in rows[1:] if r[0] == "(all devices)"]
    assert overall, "the overall rows of the GROUPING SETS are missing"
    assert sum(int(r[-1]) for r in overall) == ROWS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["raw_objects"] >= 1
    assert summary["compacted_objects"] >= 1


def test_compacted_files_are_partitioned_by_reading_date_and_batch(finished_demo):
    demo, _summary, _out = finished_demo
    buckets = [b["Name"] for b in aws_cli(demo, "s3api", "list-buckets")["Buckets"]]
    data = next(b for b in buckets if "storagedata" in b)
    listed = aws_cli(demo, "s3api", "list-objects-v2", "--bucket", data, "--prefix", "compacted/")
    keys = [item["Key"] for item in listed["Contents"]]
    # The first 600 rows of the log start at 2015-08-20 23:58:30, ten seconds apart.
    dates = {key.split("/")[1] for key in keys}
    assert dates == {"dt=2015-08-20", "dt=2015-08-21"}
    assert all(key.split("/")[2].startswith("batch=") for key in keys)
    assert all(key.endswith(".parquet") for key in keys)


def test_aws_cli_lists_the_landed_objects(finished_demo):
    demo, _summary, _out = finished_demo
    buckets = [b["Name"] for b in aws_cli(demo, "s3api", "list-buckets")["Buckets"]]
    data = next(b for b in buckets if "storagedata" in b)
    listing = subprocess.run(
        [*AWS, "s3", "ls", f"s3://{data}/raw/", "--recursive"],
        env={**os.environ, **demo.cloud.env()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".gz" in listing
    assert "raw/dt=" in listing


def test_aws_cli_scans_the_compactor_state(finished_demo):
    demo, _summary, _out = finished_demo
    tables = aws_cli(demo, "dynamodb", "list-tables")["TableNames"]
    (table,) = [t for t in tables if "Compaction" in t]
    items = aws_cli(demo, "dynamodb", "scan", "--table-name", table)["Items"]
    assert any(item["pk"]["S"].startswith("batch") for item in items)


def test_aws_cli_runs_athena_queries(finished_demo):
    demo, _summary, _out = finished_demo
    started = aws_cli(
        demo,
        "athena",
        "start-query-execution",
        "--query-string",
        "SELECT count(*) AS n FROM readings",
        "--query-execution-context",
        "Database=sensor_pipeline",
        "--work-group",
        "sensor-pipeline",
    )
    query_id = started["QueryExecutionId"]
    for _ in range(120):
        state = aws_cli(demo, "athena", "get-query-execution", "--query-execution-id", query_id)
        if state["QueryExecution"]["Status"]["State"] in ("SUCCEEDED", "FAILED"):
            break
    assert state["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    results = aws_cli(demo, "athena", "get-query-results", "--query-execution-id", query_id)
    rows = results["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == str(ROWS)


def alerter_env(demo):
    functions = demo.cloud.deployment.runtime["AWS::Lambda::Function"].values()
    handler = "alerter.handler.lambda_handler"
    return next(f for f in functions if f["Handler"] == handler)["Environment"]["Variables"]


def expected_alerts(demo):
    """The alerts the real log must raise: the alerter's own rules applied to the landed readings
    in seq order, with the thresholds from the template (computed here, not by the alerter)."""
    env = alerter_env(demo)
    context = ThresholdConfig.from_json(env["DEFAULT_THRESHOLDS"], "DEFAULT_THRESHOLDS")
    states = {}
    found = []
    for reading in sorted(json_lines(env["DATA_BUCKET"], "raw/"), key=lambda r: r["seq"]):
        device = reading["device_id"]
        for transition in evaluate(
            reading, states, lambda m, d=device: resolve(d, m, ThresholdConfig({}), context)
        ):
            states = apply(states, transition)
            found.append((transition.alert_id, transition.kind, transition.current.level.label))
    return found


def test_the_real_log_raises_alerts_that_reach_history_people_and_the_device(finished_demo):
    demo, summary, out = finished_demo
    env = alerter_env(demo)
    history = alert_history(env["DATA_BUCKET"])
    expected = expected_alerts(demo)
    assert expected, "the first rows of the log cross the default humidity line"
    assert [(a["alert_id"], a["transition"], a["level"]) for a in history] == expected
    notified = demo.inbox.messages
    assert sorted(m["alert_id"] for m in notified) == sorted(a["alert_id"] for a in history)
    assert summary.alerts.history == len(history)
    assert summary.alerts.notified == len(history)
    # what the device gets on connecting, read with its certificate: the last alert's level
    assert summary.alerts.device_level == history[-1]["device_level"]
    assert summary.alerts.line().startswith(f"ALERTS history={len(history)} ")
    assert json.loads((out / "summary.json").read_text())["alerts"]["history"] == len(history)
    with (out / "alerts.csv").open() as f:
        assert len(list(csv.reader(f))) == len(history) + 1
    # ... and the report lists every one of them
    report = (out / "report.html").read_text()
    assert f"The alerter raised {len(history)} alerts:" in report
    by_day = list(csv.reader((out / "alerts_by_day.csv").open()))
    assert (
        sum(int(r[4]) for r in by_day[1:])
        == summary.alerts.transitions["raised"] + (summary.alerts.transitions["lowered"])
    )


def readme_local_cloud_commands():
    """The commands the README shows between `make up` and `make down`."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\nmake up\n(.*?)make down\n```", readme, re.S)
    assert block is not None, "the README's `make up` example is gone"
    return block.group(1)


def test_the_readme_local_cloud_commands_run_as_written(finished_demo, tmp_path):
    demo, _summary, _out = finished_demo
    # A folder laid out as the repository after `make up`: the local cloud's env and outputs,
    # the virtualenv, the scripts and cdk.json; a fresh shell without the virtualenv on PATH.
    (tmp_path / ".localcloud").symlink_to(demo.cloud.state_dir)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    for name in ("scripts", "cdk.json"):
        (tmp_path / name).symlink_to(ROOT / name)
    done = subprocess.run(
        ["bash", "-e", "-c", readme_local_cloud_commands()],
        cwd=tmp_path,
        env={"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "storagedata" in out  # aws s3 ls
    assert "\nSUCCEEDED\n" in out
    assert re.search(rf"\|\s+{ROWS}\s+\|", out), out  # the count
    assert "sensor-log-" in out  # the indices
    assert "humidity" in out  # alert-thresholds show
