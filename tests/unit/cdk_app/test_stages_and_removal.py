"""Two stages in one account, and what `cdk destroy` leaves behind.

Account-unique names (Glue database, Athena workgroup, the CloudWatch Logs resource policy, the
tunnel host's launch template) used to be fixed, so a second copy in the same account collided.
`-c stage=<name>` gives every one of them, and the stack, its own name. The telemetry topic rule
is named too (devices publish to it by name, through Basic Ingest), with the stage in its name.
`retainData` decides whether the buckets and tables survive `cdk destroy`; nothing else does.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from cdk_app.config import PipelineSettings, SettingError
from cdk_app.pipeline_stack import SensorPipelineStack
from tests.unit.cdk_app.support import project_context

UNIQUE_NAMES = {
    "AWS::Glue::Database": lambda p: p["DatabaseInput"]["Name"],
    "AWS::Athena::WorkGroup": lambda p: p["Name"],
    "AWS::Logs::ResourcePolicy": lambda p: p["PolicyName"],
    "AWS::EC2::LaunchTemplate": lambda p: p["LaunchTemplateName"],
    "AWS::IoT::TopicRule": lambda p: p["RuleName"],  # named: devices publish to it by name
}
KEPT_DATA = {"AWS::S3::Bucket", "AWS::DynamoDB::Table"}


def template(**context: Any) -> tuple[str, dict[str, Any]]:
    app = cdk.App(context=project_context(**context))
    stack_id = PipelineSettings.from_context(app.node).stack_id()
    SensorPipelineStack(app, stack_id)
    return stack_id, app.synth().get_stack_by_name(stack_id).template


def unique_names(resources: dict[str, Any]) -> dict[str, str]:
    return {
        r["Type"]: UNIQUE_NAMES[r["Type"]](r["Properties"])
        for r in resources.values()
        if r["Type"] in UNIQUE_NAMES
    }


@pytest.fixture(scope="module")
def default() -> tuple[str, dict[str, Any]]:
    """With the tunnel host (off in the small profile), so that every unique name is there."""
    return template(dashboardsBastion=True)


def test_the_default_stage_keeps_the_documented_names(default):
    stack_id, body = default
    assert stack_id == "SensorPipeline"
    names = unique_names(body["Resources"])
    assert names["AWS::Glue::Database"] == "sensor_pipeline"
    assert names["AWS::Athena::WorkGroup"] == "sensor-pipeline"


def test_a_second_stage_shares_no_account_unique_name(default):
    stack_id, body = template(stage="dev", dashboardsBastion=True)
    assert stack_id == "SensorPipeline-dev"
    mine, theirs = unique_names(body["Resources"]), unique_names(default[1]["Resources"])
    assert set(mine) == set(UNIQUE_NAMES)
    for kind, name in mine.items():
        assert name != theirs[kind], kind
    assert mine["AWS::Glue::Database"] == "sensor_pipeline_dev"
    assert mine["AWS::Athena::WorkGroup"] == "sensor-pipeline-dev"


@pytest.mark.parametrize("stage", ["Dev", "1st", "dev-2", "a" * 17, "dev_2"])
def test_a_stage_that_cannot_go_into_every_name_is_refused(stage):
    with pytest.raises(SettingError, match="context setting 'stage'"):
        template(stage=stage)


def retained(resources: dict[str, Any]) -> set[str]:
    return {r["Type"] for r in resources.values() if r.get("DeletionPolicy") == "Retain"}


def test_destroy_keeps_only_what_holds_data_by_default(default):
    assert retained(default[1]["Resources"]) == KEPT_DATA


def test_destroy_deletes_keys_and_the_stream(default):
    for resource in default[1]["Resources"].values():
        if resource["Type"] in {"AWS::KMS::Key", "AWS::Kinesis::Stream"}:
            assert resource.get("DeletionPolicy") == "Delete", resource["Type"]
    keys = [r for r in default[1]["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert keys and all(k["Properties"]["PendingWindowInDays"] == 7 for k in keys)


def test_retain_data_false_leaves_nothing_behind():
    _stack_id, body = template(retainData=False)
    assert retained(body["Resources"]) == set()
    buckets = [r for r in body["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    emptied = [r for r in body["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    assert len(emptied) == len(buckets) == 3
