"""The alerting part of the stack: the Lambda on the stream, its tables, topic, history table,
least-privilege role, and the settings that feed it."""

import json
import re
from pathlib import Path

import pytest

from cdk_app.config import SettingError
from tests.unit.cdk_app.support import function_of, only, rendered, resources_of, synth_stack


def alerter(template):
    return function_of(template, "alerter")


def alerter_statements(template):
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, p in resources_of(template, "AWS::IAM::Policy").items()
        if logical_id.startswith("AlertingAlerterRole")
    ]
    return policy


def test_the_alerter_reads_the_readings_stream_with_partial_batch_responses(template):
    mapping = only(template, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["EventSourceArn"]["Fn::GetAtt"][0].startswith("IngestReadings")
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    queue = template.to_json()["Resources"][destination]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_the_alerter_batch_follows_the_profile(make_template, template):
    small = only(template, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert (small["BatchSize"], small["MaximumBatchingWindowInSeconds"]) == (100, 1)
    fleet = only(make_template(profile="fleet"), "AWS::Lambda::EventSourceMapping")["Properties"]
    assert (fleet["BatchSize"], fleet["MaximumBatchingWindowInSeconds"]) == (1000, 10)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("alerterBatchingWindowSeconds", 301, "alerterBatchingWindowSeconds"),
        ("alerterBatchSize", 10_001, "alerterBatchSize"),
        ("lambdaLogLevel", "CHATTY", "lambdaLogLevel"),
        ("lambdaSystemLogLevel", "ERROR", "lambdaSystemLogLevel"),
    ],
)
def test_batch_and_log_settings_outside_their_range_fail_the_synth(key, value, message):
    with pytest.raises(SettingError, match=message):
        synth_stack(**{key: value})


def test_functions_log_no_platform_lines_and_no_info_summary_per_invocation(template):
    functions = [
        props["Properties"]
        for props in resources_of(template, "AWS::Lambda::Function").values()
        if "POWERTOOLS_SERVICE_NAME"
        in props["Properties"].get("Environment", {}).get("Variables", {})
    ]
    assert len(functions) >= 4  # alerter, compactor, validators, search setup
    for props in functions:
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["LoggingConfig"]["SystemLogLevel"] == "WARN"
        # The application level stays Lambda's default: metrics (EMF) lines carry no level.
        assert "ApplicationLogLevel" not in props["LoggingConfig"]
        assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"
    handlers = Path(__file__).resolve().parents[3] / "lambdas"
    for name in ("alerter", "compactor", "validator"):
        code = (handlers / name / name / "handler.py").read_text(encoding="utf-8")
        assert re.search(
            r"logger\.debug\(\s*\"(batch done|invocation done|batch transformed)", code
        )
        assert not re.search(
            r"logger\.info\(\s*\"(batch done|invocation done|batch transformed)", code
        )


def test_context_thresholds_travel_in_the_environment(make_template):
    thresholds = {
        "default": {"humidity": {"warningHigh": 55, "criticalHigh": 70}},
        "devices": {"pi-a": {"humidity": {"warningHigh": 50}}},
    }
    template = make_template(
        deviceNames=["pi-a", "pi-b"], alertThresholds=thresholds, alertThresholdCacheSeconds=5
    )
    env = alerter(template)["Environment"]["Variables"]
    assert json.loads(env["DEFAULT_THRESHOLDS"]) == thresholds
    assert env["THRESHOLD_CACHE_SECONDS"] == "5"
    assert env["ALERTS_PREFIX"] == "alerts/"
    assert env["ALERTS_TOPIC_TEMPLATE"] == "sensors/{thing}/alerts"
    assert set(env) >= {"THRESHOLD_TABLE", "STATE_TABLE", "ALERT_TOPIC_ARN", "DATA_BUCKET"}


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"default": {"humidity": {"warningHigh": 60, "criticalHigh": 50}}}, "criticalHigh >="),
        ({"default": {"dewpoint": {"warningHigh": 1}}}, "'dewpoint' is not a metric"),
        ({"devices": {"pi-unknown": {"humidity": {"warningHigh": 1}}}}, "not in 'deviceNames'"),
        ("[1, 2]", "is not a valid dict"),
    ],
)
def test_bad_context_thresholds_fail_the_synth_with_the_reason(thresholds, message):
    with pytest.raises(SettingError) as caught:
        synth_stack(alertThresholds=thresholds)
    assert message in str(caught.value)


def test_an_oversized_threshold_context_points_to_the_table():
    devices = [f"pi-{i:03d}" for i in range(40)]
    many = {d: {"humidity": {"warningHigh": 60, "criticalHigh": 65}} for d in devices}
    with pytest.raises(SettingError, match="threshold table"):
        synth_stack(deviceNames=devices, alertThresholds={"devices": many})


def test_the_alerter_role_is_scoped_to_its_resources(template):
    statements = {
        tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in alerter_statements(template)
    }
    publish = statements[("iot:Publish", "iot:RetainPublish")]
    assert rendered(publish["Resource"]).endswith(":topic/sensors/*/alerts")
    (s3_put,) = [s for actions, s in statements.items() if "s3:PutObject" in actions]
    assert s3_put["Action"] == "s3:PutObject"
    assert rendered(s3_put["Resource"]).endswith("/alerts/*")
    assert statements[("dynamodb:Scan",)]["Resource"]["Fn::GetAtt"][0].startswith(
        "AlertingThresholds"
    )
    state = statements[("dynamodb:PutItem", "dynamodb:Query")]
    assert state["Resource"]["Fn::GetAtt"][0].startswith("AlertingState")
    assert statements[("iot:DescribeEndpoint",)]["Resource"] == "*"
    assert ("sns:Publish",) in statements


def test_tables_topic_and_email(make_template):
    tables = {
        logical_id: t["Properties"]
        for logical_id, t in resources_of(make_template(), "AWS::DynamoDB::Table").items()
        if logical_id.startswith("Alerting")
    }
    keys = sorted(tuple(k["AttributeName"] for k in t["KeySchema"]) for t in tables.values())
    assert keys == [("device_id", "metric"), ("scope", "metric")]
    for table in tables.values():
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    template = make_template(alertEmail="ops@example.com")
    subscriptions = [
        s["Properties"]
        for s in resources_of(template, "AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"]["Ref"].startswith("AlertingAlerts")
    ]
    assert subscriptions == [
        {
            "Protocol": "email",
            "TopicArn": subscriptions[0]["TopicArn"],
            "Endpoint": "ops@example.com",
        }
    ]
    topics = resources_of(template, "AWS::SNS::Topic")
    (alert_topic,) = [t for k, t in topics.items() if k.startswith("AlertingAlerts")]
    assert "KmsMasterKeyId" in alert_topic["Properties"]


def test_history_is_a_glue_table_with_projection_and_a_retention(make_template):
    template = make_template(alertHistoryRetentionDays=400)
    (table,) = [
        t["Properties"]["TableInput"]
        for t in resources_of(template, "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == "alerts"
    ]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert {"device_id", "metric", "level", "transition", "value", "ts"} <= set(columns)
    rules = {
        r.get("Id"): r
        for b in resources_of(template, "AWS::S3::Bucket").values()
        for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    }
    assert rules["alert-history"]["Prefix"] == "alerts/"
    assert rules["alert-history"]["ExpirationInDays"] == 400


def test_failed_alert_batches_raise_an_alarm(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert any(k.startswith("MonitoringAlerterFailedBatches") for k in alarms)
    assert any(k.startswith("MonitoringAlerterErrors") for k in alarms)


def test_the_alerter_asset_carries_the_validator_package(cdk_out):
    out = cdk_out
    template = json.loads((out / "SensorPipeline.template.json").read_text())
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "alerter.handler.lambda_handler"
    ]
    asset = out / function["Metadata"]["aws:asset:path"]
    assert (asset / "validator" / "reading.py").is_file()
    assert not (asset / "validator").is_symlink()
    assert (asset / "alerter" / "handler.py").is_file()
    # the reading contract only, each module a copy of the validator's own, the one source
    source = Path(__file__).resolve().parents[3] / "lambdas" / "validator" / "validator"
    copied = sorted(p.name for p in (asset / "validator").iterdir())
    assert copied == ["__init__.py", "envelope.py", "reading.py"]
    for name in copied:
        assert (asset / "validator" / name).read_bytes() == (source / name).read_bytes()
