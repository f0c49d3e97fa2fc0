"""Lambda settings from the template, and the event shapes the local runtime produces."""

from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest

from localcloud.lambda_.function import (
    LambdaConfigError,
    LambdaFunctionConfig,
    LambdaInvocationError,
    function_environment,
)
from localcloud.lambda_.s3 import complete_s3_event
from localcloud.lambda_.sources import (
    _batch_item_failures,
    parse_rate_expression,
    scheduled_event,
    sqs_record,
)


def props(**overrides):
    return {
        "Handler": "compactor.handler.lambda_handler",
        "Runtime": "python3.13",
        "Timeout": 300,
        "MemorySize": 256,
        "FunctionName": "pipeline-compactor",
        "Environment": {"Variables": {"STATE_TABLE": "state", "COMPACTION_THRESHOLD": "20"}},
        "Layers": ["arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3:7"],
        **overrides,
    }


def test_function_from_template_properties(tmp_path):
    config = LambdaFunctionConfig.from_cfn_properties("Compactor", props(), tmp_path)
    assert config.function_name == "pipeline-compactor"
    assert config.handler == "compactor.handler.lambda_handler"
    assert config.timeout_seconds == 300
    assert config.memory_mb == 256
    assert config.environment == {"STATE_TABLE": "state", "COMPACTION_THRESHOLD": "20"}
    assert config.asset_dir == tmp_path.resolve()
    assert config.arn == "arn:aws:lambda:us-east-1:123456789012:function:pipeline-compactor"


def test_lambda_defaults_and_name_fallbacks(tmp_path):
    minimal = {"Handler": "fn.handler.main", "Runtime": "python3.12"}
    config = LambdaFunctionConfig.from_cfn_properties("Fn", minimal, tmp_path)
    assert (config.timeout_seconds, config.memory_mb) == (3, 128)
    assert config.function_name == "Fn"
    assert config.environment == {}
    named = LambdaFunctionConfig.from_cfn_properties("Fn", minimal, tmp_path, "stack-Fn-1X2Y")
    assert named.function_name == "stack-Fn-1X2Y"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Handler": "handler"}, "not '<module path>.<function>'"),
        ({"Runtime": "nodejs20.x"}, "only python3.x"),
        ({"PackageType": "Image"}, "only Zip"),
        ({"Timeout": 901}, "outside 1-900"),
        ({"Timeout": "long"}, "must be integers"),
        ({"FunctionName": "has spaces"}, "not a valid name"),
        ({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}, "reserved"),
        ({"Environment": {"Variables": {"TABLE": {"Ref": "Table"}}}}, "unresolved"),
    ],
)
def test_functions_the_runtime_cannot_run_are_rejected(tmp_path, overrides, message):
    with pytest.raises(LambdaConfigError, match=message):
        LambdaFunctionConfig.from_cfn_properties("Fn", props(**overrides), tmp_path)


def test_a_missing_asset_folder_is_rejected(tmp_path):
    with pytest.raises(LambdaConfigError, match="does not exist"):
        LambdaFunctionConfig.from_cfn_properties("Fn", props(), tmp_path / "missing")


def test_environment_is_reserved_variables_then_function_then_local_cloud(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVELOPER_SECRET", "leak")
    config = LambdaFunctionConfig.from_cfn_properties("Compactor", props(), tmp_path)
    env = function_environment(config, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert "DEVELOPER_SECRET" not in env
    assert env["_HANDLER"] == "compactor.handler.lambda_handler"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path.resolve())
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "pipeline-compactor"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/pipeline-compactor"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["STATE_TABLE"] == "state"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"


def test_invocation_error_payload_is_lambdas():
    err = LambdaInvocationError("ValueError", "bad", ["  File ...\n"], "req-1")
    assert err.payload == {
        "errorMessage": "bad",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": ["  File ...\n"],
    }
    assert str(err) == "ValueError: bad"


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(5 minutes)", 300),
        ("rate(1 minute)", 60),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rate_expressions(expression, seconds):
    assert parse_rate_expression(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(5 minute)", "rate(1 minutes)"])
def test_other_schedule_expressions_are_rejected(expression):
    with pytest.raises(ValueError, match="schedule expression"):
        parse_rate_expression(expression)


def test_scheduled_event_shape():
    event = scheduled_event(
        "arn:aws:events:us-east-1:123456789012:rule/tail",
        datetime(2024, 5, 1, 12, 0, 7, 500, tzinfo=UTC),
    )
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2024-05-01T12:00:07Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/tail"]
    assert event["detail"] == {}
    assert event["account"] == "123456789012"
    assert event["version"] == "0"


MOTO_EVENT = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-05-01T12:00:00.250Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "compactor",
                "bucket": {"name": "data", "arn": "arn:aws:s3:::data"},
                "object": {"key": "raw/dt%3D2024-05-01/a+b.gz", "size": 12, "eTag": "e"},
            },
        }
    ]
}


def test_s3_events_get_the_fields_s3_sends_and_keep_moto_s():
    event = complete_s3_event(MOTO_EVENT, 7)
    (record,) = event["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "raw/dt%3D2024-05-01/a+b.gz"
    assert unquote_plus(record["s3"]["object"]["key"]) == "raw/dt=2024-05-01/a b.gz"
    assert record["s3"]["bucket"]["name"] == "data"
    assert record["s3"]["object"]["size"] == 12
    assert {"userIdentity", "requestParameters", "responseElements"} <= set(record)
    later = complete_s3_event(MOTO_EVENT, 8)["Records"][0]["s3"]["object"]["sequencer"]
    assert record["s3"]["object"]["sequencer"] < later
    assert MOTO_EVENT["Records"][0]["s3"]["object"].get("sequencer") is None  # not mutated


def test_sqs_record_shape():
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "Other": "x"},
        "MessageAttributes": {"kind": {"StringValue": "s3", "DataType": "String"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
    assert record["messageAttributes"]["kind"]["stringValue"] == "s3"
    assert record["md5OfBody"] == "99914b932bd37a50b983c5e7c90ae93b"


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": "b"}, {"a", "b"}),
        ("b", {"a", "b"}),
    ],
)
def test_partial_batch_responses(result, failed):
    assert _batch_item_failures(result, {"a", "b"}) == failed
