"""QuickSight is opt-in: off by default (the template has no QuickSight resource); with a
principal ARN, an Athena data source with its own role, a SPICE dataset over the compacted table
refreshed every hour, and an analysis and a dashboard with the four visuals. cdk-nag runs on
every synth here; cfn-lint checks the definitions against CloudFormation's schema."""

import json
import subprocess
import sys

import aws_cdk as cdk
import botocore.session
import pytest
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import SettingError
from cdk_app.pipeline_stack import SensorPipelineStack
from tests.unit.cdk_app.support import only, project_context, resources_of

PRINCIPAL = "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst"


@pytest.fixture(scope="module")
def with_quicksight(make_template):
    return make_template(quicksightPrincipalArn=PRINCIPAL)


def test_off_by_default(template):
    types = {r["Type"] for r in template.to_json()["Resources"].values()}
    assert not any(t.startswith("AWS::QuickSight::") for t in types)
    assert "QuickSightDashboard" not in template.to_json()["Outputs"]


def test_a_principal_that_is_not_a_quicksight_user_or_group_is_refused(make_template):
    with pytest.raises(SettingError, match="quicksightPrincipalArn"):
        make_template(quicksightPrincipalArn="arn:aws:iam::123456789012:user/analyst")


def test_athena_data_source_uses_the_workgroup_and_its_own_role(with_quicksight):
    source = only(with_quicksight, "AWS::QuickSight::DataSource")["Properties"]
    assert source["Type"] == "ATHENA"
    athena = source["DataSourceParameters"]["AthenaParameters"]
    assert athena["WorkGroup"] == "sensor-pipeline"
    role_id = athena["RoleArn"]["Fn::GetAtt"][0]
    role = with_quicksight.to_json()["Resources"][role_id]["Properties"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "quicksight.amazonaws.com"}
    assert source["Permissions"][0]["Principal"] == PRINCIPAL


def test_the_role_reads_only_compacted_objects_and_the_results_prefix(with_quicksight):
    policies = resources_of(with_quicksight, "AWS::IAM::Policy")
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in policies.values()
        if any("QuickSightAthenaRole" in r["Ref"] for r in p["Properties"]["Roles"])
    ]
    text = json.dumps(policy)
    assert "/compacted/*" in text and "/athena/*" in text
    assert "/raw/" not in text and "/errors/" not in text
    actions = {
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:DeleteObject*" not in actions or "/athena/*" in text
    assert not any(a.startswith("glue:Create") or a.startswith("glue:Delete") for a in actions)


def test_spice_dataset_over_the_compacted_table(with_quicksight):
    dataset = only(with_quicksight, "AWS::QuickSight::DataSet")["Properties"]
    assert dataset["ImportMode"] == "SPICE"
    (physical,) = dataset["PhysicalTableMap"].values()
    table = physical["RelationalTable"]
    assert (table["Schema"], table["Name"]) == ("sensor_pipeline", "readings")
    columns = {c["Name"]: c["Type"] for c in table["InputColumns"]}
    assert columns["ts"] == "DATETIME" and columns["temperature"] == "DECIMAL"
    assert columns["device_id"] == "STRING" and "flags" not in columns
    window = dataset["DataSetRefreshProperties"]["RefreshConfiguration"]["IncrementalRefresh"]
    assert window["LookbackWindow"]["ColumnName"] == "arrival_ts"


def test_refreshed_every_hour(with_quicksight):
    schedules = [
        s["Properties"]["Schedule"]
        for s in resources_of(with_quicksight, "AWS::QuickSight::RefreshSchedule").values()
    ]
    by_interval = {s["ScheduleFrequency"]["Interval"]: s["RefreshType"] for s in schedules}
    assert by_interval == {"HOURLY": "INCREMENTAL_REFRESH", "WEEKLY": "FULL_REFRESH"}


def visuals_of(definition):
    (sheet,) = definition["Sheets"]
    found = {}
    for visual in sheet["Visuals"]:
        ((kind, body),) = visual.items()
        wells = next(iter(body["ChartConfiguration"]["FieldWells"].values()))
        category = next(iter(wells["Category"][0].values()))
        values = [next(iter(v.values())) for v in wells["Values"]]
        found[body["VisualId"]] = (
            kind,
            category["Column"]["ColumnName"],
            category.get("DateGranularity"),
            [
                (v["Column"]["ColumnName"], v["AggregationFunction"]["SimpleNumericalAggregation"])
                for v in values
            ],
        )
    return found


@pytest.mark.parametrize(
    "resource_type", ["AWS::QuickSight::Analysis", "AWS::QuickSight::Dashboard"]
)
def test_analysis_and_dashboard_show_the_four_visuals(with_quicksight, resource_type):
    properties = only(with_quicksight, resource_type)["Properties"]
    definition = properties["Definition"]
    (declaration,) = definition["DataSetIdentifierDeclarations"]
    dataset_id = next(iter(resources_of(with_quicksight, "AWS::QuickSight::DataSet")))
    assert declaration["DataSetArn"] == {"Fn::GetAtt": [dataset_id, "Arn"]}
    assert visuals_of(definition) == {
        "hourly-temperature": ("BarChartVisual", "hour_of_day", None, [("temperature", "AVERAGE")]),
        "hourly-humidity": ("BarChartVisual", "hour_of_day", None, [("humidity", "AVERAGE")]),
        "temperature-over-time": (
            "LineChartVisual",
            "ts",
            "HOUR",
            [("temperature", "AVERAGE"), ("temperature", "MAX")],
        ),
        "humidity-over-time": (
            "LineChartVisual",
            "ts",
            "HOUR",
            [("humidity", "AVERAGE"), ("humidity", "MAX")],
        ),
    }
    (hour,) = definition["CalculatedFields"]
    assert (hour["Name"], hour["Expression"]) == ("hour_of_day", "extract('HH', {ts})")
    (layout,) = definition["Sheets"][0]["Layouts"]
    placed = {e["ElementId"] for e in layout["Configuration"]["GridLayout"]["Elements"]}
    assert placed == set(visuals_of(definition))
    assert properties["Permissions"][0]["Principal"] == PRINCIPAL


def test_cfn_lint_accepts_the_quicksight_resources(tmp_path):
    app = cdk.App(outdir=str(tmp_path), context=project_context(quicksightPrincipalArn=PRINCIPAL))
    SensorPipelineStack(app, "SensorPipeline")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", str(tmp_path / "SensorPipeline.template.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode & 2 == 0, result.stdout
    quicksight_findings = [line for line in result.stdout.splitlines() if "QuickSight" in line]
    assert quicksight_findings == []


# --- the QuickSight API's own model (botocore) checks what cfn-lint does not look into --------

QUICKSIGHT = botocore.session.get_session().get_service_model("quicksight")


def _structure(value, shape, path):
    if not isinstance(value, dict):
        return [f"{path}: expected an object"]
    errors = [f"{path}.{k}: unknown member" for k in value if k not in shape.members]
    errors += [f"{path}.{k}: required" for k in shape.required_members if k not in value]
    for key, item in value.items():
        if key in shape.members:
            errors += model_errors(item, shape.members[key], f"{path}.{key}")
    return errors


def _list(value, shape, path):
    if not isinstance(value, list):
        return [f"{path}: expected a list"]
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 10**9)
    errors = [] if low <= len(value) <= high else [f"{path}: {len(value)} items, not {low}-{high}"]
    for n, item in enumerate(value):
        errors += model_errors(item, shape.member, f"{path}[{n}]")
    return errors


def _map(value, shape, path):
    return [e for k, item in value.items() for e in model_errors(item, shape.value, f"{path}.{k}")]


def _string(value, shape, path):
    if not isinstance(value, str):
        return [f"{path}: expected a string"]
    errors = []
    if shape.enum and value not in shape.enum:
        errors.append(f"{path}: {value!r} is not one of {shape.enum}")
    if not shape.metadata.get("min", 0) <= len(value) <= shape.metadata.get("max", 10**9):
        errors.append(f"{path}: length {len(value)} outside {shape.metadata}")
    return errors


def _number(value, shape, path):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: expected a number"]
    if not shape.metadata.get("min", -(10**18)) <= value <= shape.metadata.get("max", 10**18):
        return [f"{path}: {value} outside {shape.metadata}"]
    return []


def _boolean(value, _shape, path):
    return [] if isinstance(value, bool) else [f"{path}: expected true or false"]


CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _number,
    "long": _number,
    "double": _number,
    "float": _number,
    "boolean": _boolean,
}


def model_errors(value, shape, path="$"):
    """Where `value` breaks the API shape: unknown or missing members, wrong types, values
    outside an enum, lengths and ranges. CloudFormation intrinsics stand for strings."""
    intrinsic = isinstance(value, dict) and len(value) == 1 and next(iter(value)) == "Ref"
    if intrinsic or (isinstance(value, dict) and any(k.startswith("Fn::") for k in value)):
        kind = shape.type_name
        return [] if kind == "string" else [f"{path}: an intrinsic for a {kind}"]
    return CHECKS[shape.type_name](value, shape, path)


@pytest.mark.parametrize(
    ("resource_type", "operation", "members"),
    [
        ("AWS::QuickSight::Analysis", "CreateAnalysis", ["Definition", "Permissions"]),
        (
            "AWS::QuickSight::Dashboard",
            "CreateDashboard",
            ["Definition", "Permissions", "DashboardPublishOptions"],
        ),
        (
            "AWS::QuickSight::DataSet",
            "CreateDataSet",
            ["PhysicalTableMap", "ImportMode", "Permissions"],
        ),
        (
            "AWS::QuickSight::DataSource",
            "CreateDataSource",
            ["DataSourceParameters", "SslProperties", "Type"],
        ),
    ],
)
def test_properties_match_the_quicksight_api_model(
    with_quicksight, resource_type, operation, members
):
    properties = only(with_quicksight, resource_type)["Properties"]
    shape = QUICKSIGHT.operation_model(operation).input_shape
    errors = []
    for member in members:
        errors += model_errors(properties[member], shape.members[member], member)
    assert errors == []


def test_refresh_properties_and_schedules_match_the_api_model(with_quicksight):
    dataset = only(with_quicksight, "AWS::QuickSight::DataSet")["Properties"]
    refresh = QUICKSIGHT.shape_for("DataSetRefreshProperties")
    assert model_errors(dataset["DataSetRefreshProperties"], refresh) == []
    schedule_shape = QUICKSIGHT.shape_for("RefreshSchedule")
    for schedule in resources_of(with_quicksight, "AWS::QuickSight::RefreshSchedule").values():
        body = json.loads(json.dumps(schedule["Properties"]["Schedule"]))
        # CloudFormation spells the API's `Timezone` as `TimeZone`.
        frequency = body["ScheduleFrequency"]
        frequency["Timezone"] = frequency.pop("TimeZone")
        assert model_errors(body, schedule_shape) == []


def test_the_model_check_catches_a_wrong_granularity():
    shape = QUICKSIGHT.shape_for("DateDimensionField")
    field = {"FieldId": "x", "Column": {"DataSetIdentifier": "d", "ColumnName": "ts"}}
    assert model_errors({**field, "DateGranularity": "HOUR"}, shape) == []
    assert model_errors({**field, "DateGranularity": "HOURLY", "Bogus": 1}, shape) == [
        "$.Bogus: unknown member",
        "$.DateGranularity: 'HOURLY' is not one of "
        + str(QUICKSIGHT.shape_for("TimeGranularity").enum),
    ]
