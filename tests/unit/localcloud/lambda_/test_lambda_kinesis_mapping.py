"""Reading a Kinesis event source mapping, partial batch responses, the on-failure record, the
IoT data plane's request checks and the local cloud's wiring helpers, without services."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from localcloud.cloudformation.deployer import Deployment
from localcloud.iot.data_plane import (
    DataPlaneError,
    IotDataServer,
    PublishRequest,
    check_publish_topic,
)
from localcloud.iot.resources import data_plane_topics
from localcloud.iot.rules import MqttConnection
from localcloud.kinesis.consumer import SourceRecord
from localcloud.lambda_.kinesis import (
    KinesisMappingConfig,
    MappingConfigError,
    first_failed_index,
    kinesis_record,
    on_failure_record,
)
from localcloud.lambda_.resources import function_named

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/readings"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:failures"


def record(n: int) -> SourceRecord:
    return SourceRecord(
        shard_id="shardId-000000000000",
        sequence_number=str(1000 + n),
        partition_key="sensehat-01",
        data=json.dumps({"n": n}).encode(),
        arrival=datetime(2025, 1, 2, 3, 4, 5, n * 1000, tzinfo=UTC),
    )


def test_a_cdk_style_mapping_is_read():
    config = KinesisMappingConfig.from_cfn_properties(
        {
            "EventSourceArn": STREAM_ARN,
            "FunctionName": "alerter",
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 50,
            "MaximumBatchingWindowInSeconds": 2,
            "MaximumRetryAttempts": 3,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE_ARN}},
        },
        mapping_id="m-1",
    )
    assert config.stream_name == "readings"
    assert (config.batch_size, config.batching_window_seconds) == (50, 2.0)
    assert config.maximum_retry_attempts == 3
    assert config.bisect_on_function_error and config.report_batch_item_failures
    assert config.on_failure_destination == QUEUE_ARN
    assert config.maximum_record_age_seconds == -1 and config.enabled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"StartingPosition": "AT_TIMESTAMP"}, "StartingPosition"),
        ({"EventSourceArn": QUEUE_ARN}, "not a Kinesis stream"),
        ({"BatchSize": 0}, "BatchSize"),
        ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::b"}}}, "destination"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "{}"}]}}, "filter"),
    ],
)
def test_what_is_not_emulated_is_refused(change, message):
    props = {"EventSourceArn": STREAM_ARN, "StartingPosition": "LATEST", **change}
    with pytest.raises(MappingConfigError, match=message):
        KinesisMappingConfig.from_cfn_properties(props, mapping_id="m-1")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, None),
        ({}, None),
        ({"batchItemFailures": None}, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": [{"itemIdentifier": "1002"}, {"itemIdentifier": "1001"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, 0),
        ({"batchItemFailures": [{"itemId": "1001"}]}, 0),
        ({"batchItemFailures": [{"itemIdentifier": "9999"}]}, 0),
        ({"batchItemFailures": "1001"}, 0),
        ("not an object", 0),
    ],
)
def test_partial_batch_responses(response, expected):
    assert first_failed_index(response, [record(n) for n in range(3)]) == expected


def test_the_event_record_and_the_on_failure_record():
    batch = [record(0), record(1)]
    event = kinesis_record(batch[0], STREAM_ARN, "arn:aws:iam::123456789012:role/r")
    assert event["eventID"] == "shardId-000000000000:1000"
    assert json.loads(base64.b64decode(event["kinesis"]["data"])) == {"n": 0}
    assert event["kinesis"]["approximateArrivalTimestamp"] == batch[0].arrival.timestamp()
    failure = on_failure_record(
        batch,
        stream_arn=STREAM_ARN,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:alerter",
        condition="RetryAttemptsExhausted",
        invoke_count=4,
        request_id="r-1",
        function_error=None,
        now=datetime(2025, 1, 2, 3, 5, tzinfo=UTC),
    )
    assert failure["timestamp"] == "2025-01-02T03:05:00.000Z"
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert failure["KinesisBatchInfo"] == {
        "shardId": "shardId-000000000000",
        "startSequenceNumber": "1000",
        "endSequenceNumber": "1001",
        "approximateArrivalOfFirstRecord": "2025-01-02T03:04:05.000Z",
        "approximateArrivalOfLastRecord": "2025-01-02T03:04:05.001Z",
        "batchSize": 2,
        "streamArn": STREAM_ARN,
    }


@pytest.mark.parametrize("topic", ["", "a/+/b", "a/#", "$aws/x", "a/b/c/d/e/f/g/h/i", "x" * 257])
def test_topics_iot_core_refuses(topic):
    with pytest.raises(DataPlaneError) as caught:
        check_publish_topic(topic)
    assert (caught.value.status, caught.value.error_type) == (400, "InvalidRequestException")


def test_a_publish_request_is_read_from_what_botocore_sends():
    request = PublishRequest.parse(
        "/topics/sensors%2Fsensehat-01%2Falerts?qos=1&retain=true", {}, b"{}"
    )
    assert request.topic == "sensors/sensehat-01/alerts"
    assert (request.qos, request.retain, request.payload) == (1, True, b"{}")
    with pytest.raises(DataPlaneError, match="x-amz-mqtt5-user-properties"):
        PublishRequest.parse("/topics/a", {"x-amz-mqtt5-user-properties": "W10="}, b"{}")
    with pytest.raises(DataPlaneError) as caught:
        PublishRequest.parse("/topics/a", {}, b"x" * (128 * 1024 + 1))
    assert caught.value.status == 413


def test_endpoints_name_the_iot_data_plane_as_botocore_reads_it():
    mqtt = MqttConnection("127.0.0.1", 8883, Path("/ca.pem"), Path("c"), Path("k"))
    env = IotDataServer(mqtt, port=4).env()
    assert env["AWS_ENDPOINT_URL_IOT_DATA_PLANE"] == "http://127.0.0.1:4"
    assert env["AWS_ENDPOINT_URL_IOT_DATA"] == "http://127.0.0.1:4"


def fake_function(name: str, logical_id: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, config=SimpleNamespace(logical_id=logical_id))


def test_mapping_function_names_and_alert_topics_are_resolved():
    alerter = fake_function("SensorPipeline-Alerter", "Alerter")
    functions = [alerter]
    for reference in (
        "SensorPipeline-Alerter",
        "arn:aws:lambda:us-east-1:123456789012:function:SensorPipeline-Alerter",
        "arn:aws:lambda:us-east-1:123456789012:function:SensorPipeline-Alerter:live",
        "123456789012:function:SensorPipeline-Alerter",
    ):
        assert function_named(functions, reference) is alerter
    assert function_named(functions, "other") is None
    deployment = Deployment(stack="SensorPipeline")
    assert data_plane_topics(deployment) == ("sensors/+/alerts",)
    variables = {"ALERTS_TOPIC_TEMPLATE": "devices/{thing}/alarms"}
    deployment.functions["Alerter"] = {"Environment": {"Variables": variables}}
    assert data_plane_topics(deployment) == ("devices/+/alarms",)
