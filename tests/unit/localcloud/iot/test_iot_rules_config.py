"""Topic rules read from the resolved CloudFormation properties, and the error message shape."""

import base64
import json
import re
from pathlib import Path

import pytest

from localcloud.iot.rules import (
    AwsClients,
    Failure,
    KinesisAction,
    MqttConnection,
    S3Action,
    TopicRuleConfig,
    TopicRuleEngine,
    UnsupportedRuleError,
    basic_ingest_target,
    error_message,
    output_bytes,
    put_records_chunks,
)
from localcloud.iot.sql import Message

SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(2) AS thing_name, "
    "timestamp() AS arrival_ms, clientid() AS client_id FROM 'sensors/+/telemetry'"
)
MQTT = MqttConnection("127.0.0.1", 1, Path("ca"), Path("cert"), Path("key"))


def properties(**payload_changes):
    payload = {
        "AwsIotSqlVersion": "2016-03-23",
        "RuleDisabled": False,
        "Sql": SQL,
        "Actions": [
            {
                "Kinesis": {
                    "StreamName": "readings",
                    "PartitionKey": "${topic(2)}",
                    "RoleArn": "arn:aws:iam::123456789012:role/rule",
                }
            }
        ],
        "ErrorAction": {
            "S3": {
                "BucketName": "data",
                "Key": "errors/iot-rule/${topic(2)}/${newuuid()}.json",
                "RoleArn": "arn:aws:iam::123456789012:role/rule",
            }
        },
    }
    payload.update(payload_changes)
    return {"RuleName": "sensor_ingest", "TopicRulePayload": payload}


def test_the_pipeline_rule_is_read_from_its_properties():
    rule = TopicRuleConfig.from_cfn_properties(properties())
    assert rule.name == "sensor_ingest"
    assert rule.sql == SQL
    assert rule.topic_filter == "sensors/+/telemetry"
    assert rule.disabled is False
    [action] = rule.actions
    assert isinstance(action, KinesisAction)
    assert (action.stream_name, action.partition_key.text) == ("readings", "${topic(2)}")
    assert isinstance(rule.error_action, S3Action)
    assert rule.error_action.bucket_name == "data"
    message = Message(topic="sensors/sensehat-01/telemetry", payload=b"{}")
    assert rule.error_action.key.render(message).startswith("errors/iot-rule/sensehat-01/")


def test_a_rule_without_a_name_takes_the_one_given():
    props = properties()
    del props["RuleName"]
    assert TopicRuleConfig.from_cfn_properties(props, name="IngestRule").name == "IngestRule"


@pytest.mark.parametrize(("value", "disabled"), [(True, True), ("true", True), ("false", False)])
def test_rule_disabled_accepts_booleans_and_template_strings(value, disabled):
    rule = TopicRuleConfig.from_cfn_properties(properties(RuleDisabled=value))
    assert rule.disabled is disabled


def test_a_rule_without_error_action_and_with_several_actions():
    actions = [
        {"Kinesis": {"StreamName": "a"}},
        {"S3": {"BucketName": "b", "Key": "${topic()}/x"}},
    ]
    rule = TopicRuleConfig.from_cfn_properties(properties(Actions=actions, ErrorAction=None))
    assert [type(a) for a in rule.actions] == [KinesisAction, S3Action]
    assert rule.actions[0].partition_key is None
    assert rule.error_action is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"Actions": [{"Lambda": {"FunctionArn": "arn"}}]},
            "topic rule 'sensor_ingest' action 0: action type 'Lambda' is not supported "
            "by the local rule engine (supported: Kinesis, S3)",
        ),
        (
            {"ErrorAction": {"CloudwatchLogs": {"LogGroupName": "x", "RoleArn": "r"}}},
            "ErrorAction: action type 'CloudwatchLogs' is not supported",
        ),
        (
            {"Actions": [{"Kinesis": {"StreamName": {"Ref": "Stream"}}}]},
            'property StreamName is not a resolved string: {"Ref": "Stream"}',
        ),
        ({"Actions": [{"S3": {"BucketName": "b"}}]}, "(S3): property Key is missing"),
        ({"Actions": [{"Kinesis": {}, "S3": {}}]}, "exactly one action type"),
        (
            {"Actions": [{"Kinesis": {"StreamName": "s", "PartitionKey": "${nope()}"}}]},
            "function nope() is not supported",
        ),
        ({"AwsIotSqlVersion": "2015-10-08"}, "AwsIotSqlVersion '2015-10-08' is not supported"),
        ({"Sql": "SELECT principal() AS p FROM 'a'"}, "function principal() is not supported"),
        ({"Sql": None}, "property Sql is missing"),
    ],
)
def test_what_the_engine_cannot_run_is_refused_by_name(changes, message):
    with pytest.raises(UnsupportedRuleError, match=re.escape(message)):
        TopicRuleConfig.from_cfn_properties(properties(**changes))


def test_missing_payload_is_refused():
    with pytest.raises(UnsupportedRuleError, match="TopicRulePayload is missing"):
        TopicRuleConfig.from_cfn_properties({"RuleName": "x"})


def test_error_message_has_the_fields_aws_iot_documents():
    rule = TopicRuleConfig.from_cfn_properties(properties())
    message = Message(topic="sensors/a/telemetry", payload=b"\x00raw", client_id="a")
    failure = Failure("KinesisAction", "readings", "Failed to put record")
    document = json.loads(error_message(rule, message, [failure]))
    assert set(document) == {
        "ruleName",
        "topic",
        "cloudwatchTraceId",
        "clientId",
        "base64OriginalPayload",
        "failures",
    }
    assert document["ruleName"] == "sensor_ingest"
    assert document["topic"] == "sensors/a/telemetry"
    assert document["clientId"] == "a"
    assert base64.b64decode(document["base64OriginalPayload"]) == b"\x00raw"
    assert document["failures"] == [
        {
            "failedAction": "KinesisAction",
            "failedResource": "readings",
            "errorMessage": "Failed to put record",
        }
    ]


def test_rule_output_is_compact_json_or_the_raw_payload():
    assert output_bytes({"a": 1, "b": "é"}) == '{"a":1,"b":"é"}'.encode()
    assert output_bytes(b"\x00\x01") == b"\x00\x01"


def test_an_engine_needs_an_enabled_rule():
    rule = TopicRuleConfig.from_cfn_properties(properties(RuleDisabled=True))
    with pytest.raises(ValueError, match="no enabled topic rule"):
        TopicRuleEngine([rule], MQTT)


def test_subscriptions_are_one_per_topic_filter_and_may_be_shared():
    first = TopicRuleConfig.from_cfn_properties(properties())
    second = TopicRuleConfig.from_cfn_properties({**properties(), "RuleName": "copy"})
    # One subscription per FROM filter; one per rule for its Basic Ingest topics, named in full
    # (mosquitto matches no `$` topic with a leading wildcard).
    assert TopicRuleEngine([first, second], MQTT).topic_filters == [
        "sensors/+/telemetry",
        "$aws/rules/sensor_ingest/sensors/+/telemetry",
        "$aws/rules/copy/sensors/+/telemetry",
    ]
    shared = MqttConnection("h", 1, Path("c"), Path("c"), Path("k"), share_group="rules")
    assert TopicRuleEngine([first], shared).topic_filters == [
        "$share/rules/sensors/+/telemetry",
        "$share/rules/$aws/rules/sensor_ingest/sensors/+/telemetry",
    ]


class RecordingKinesis:
    """Stands in for boto3's Kinesis client: records each PutRecords request."""

    def __init__(self):
        self.puts = []

    def put_records(self, StreamName, Records):
        self.puts += [(StreamName, record) for record in Records]
        return {"Records": [{"SequenceNumber": "1", "ShardId": "0"} for _ in Records]}


def two_rule_engine():
    kinesis = RecordingKinesis()
    ours = TopicRuleConfig.from_cfn_properties(properties())
    theirs = properties()
    theirs["RuleName"] = "other_rule"
    theirs["TopicRulePayload"]["Actions"][0]["Kinesis"]["StreamName"] = "other-stream"
    rules = [ours, TopicRuleConfig.from_cfn_properties(theirs)]
    return TopicRuleEngine(rules, MQTT, clients=AwsClients(kinesis=kinesis)), kinesis


def test_a_basic_ingest_topic_names_its_rule_and_the_rest_is_the_topic():
    assert basic_ingest_target("$aws/rules/r_1/sensors/pi/telemetry") == (
        "r_1",
        "sensors/pi/telemetry",
    )
    assert basic_ingest_target("sensors/pi/telemetry") is None
    assert basic_ingest_target("$aws/things/pi/shadow/update") is None


def test_a_basic_ingest_message_reaches_only_its_rule_which_sees_the_topic_without_prefix():
    engine, kinesis = two_rule_engine()
    [outcome] = engine.process("$aws/rules/sensor_ingest/sensors/pi-1/telemetry", b'{"seq": 1}')
    assert (outcome.rule, outcome.matched) == ("sensor_ingest", True)
    [(stream, record)] = kinesis.puts
    assert stream == "readings"
    assert record["PartitionKey"] == "pi-1"  # ${topic(2)}: counted after the prefix
    envelope = json.loads(record["Data"])
    assert envelope["thing_name"] == "pi-1"
    assert base64.b64decode(envelope["payload"]) == b'{"seq": 1}'


def test_a_basic_ingest_message_for_another_or_unknown_rule_does_not_reach_ours():
    engine, kinesis = two_rule_engine()
    [outcome] = engine.process("$aws/rules/other_rule/sensors/pi-1/telemetry", b"{}")
    assert outcome.rule == "other_rule"
    assert [stream for stream, _ in kinesis.puts] == ["other-stream"]
    assert engine.process("$aws/rules/no_such_rule/sensors/pi-1/telemetry", b"{}") == []
    assert engine.stats.rule_not_found == 1
    assert [stream for stream, _ in kinesis.puts] == ["other-stream"]


def test_a_basic_ingest_message_outside_the_rules_filter_matches_nothing():
    engine, kinesis = two_rule_engine()
    assert engine.process("$aws/rules/sensor_ingest/sensors/pi-1/status", b"{}") == []
    assert kinesis.puts == [] and engine.stats.rule_not_found == 0


def test_a_plain_topic_still_reaches_every_rule_whose_filter_matches():
    engine, kinesis = two_rule_engine()
    outcomes = engine.process("sensors/pi-1/telemetry", b"{}")
    assert [o.rule for o in outcomes] == ["sensor_ingest", "other_rule"]
    assert sorted(stream for stream, _ in kinesis.puts) == ["other-stream", "readings"]


def test_put_records_requests_stay_within_the_kinesis_limits():
    small = [(i, {"Data": b"x" * 10, "PartitionKey": "k"}) for i in range(1201)]
    assert [len(chunk) for chunk in put_records_chunks(small)] == [500, 500, 201]
    big = [(i, {"Data": b"x" * (1024 * 1024 - 1), "PartitionKey": "k"}) for i in range(7)]
    assert [len(chunk) for chunk in put_records_chunks(big)] == [5, 2]
    order = [index for chunk in put_records_chunks(small) for index, _ in chunk]
    assert order == list(range(1201))
