"""The local topic rule engine against mosquitto (mTLS, ACL) and moto's Kinesis and S3.

Messages are published with `mosquitto_pub` holding a device certificate, as a device would.
"""

import base64
import dataclasses
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from awsiot import mqtt5_client_builder

from localcloud.iot.broker import MosquittoBroker, reader_acl
from localcloud.iot.ca import LocalCA
from localcloud.iot.engine_process import RuleEngineProcess
from localcloud.iot.rules import (
    ENGINE_CLIENT_ID,
    MqttConnection,
    TopicRuleConfig,
    TopicRuleEngine,
)

pytestmark = pytest.mark.integration

THING = "sensehat-01"
TOPIC = f"sensors/{THING}/telemetry"
# The device may publish to its plain topic and, through Basic Ingest, to any rule's topic (so the
# tests can address rules the engine does not run); the engine reads both kinds.
DEVICE_ACL = (
    "pattern write sensors/%u/telemetry",
    "pattern write $aws/rules/+/sensors/%u/telemetry",
)
ENGINE_READS = ("sensors/+/telemetry", "$aws/rules/+/sensors/+/telemetry")
STREAM = "readings"
BUCKET = "sensor-data"
CONTRACT_SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(2) AS thing_name, "
    "timestamp() AS arrival_ms, clientid() AS client_id FROM 'sensors/+/telemetry'"
)
ERROR_KEY = "errors/iot-rule/${topic(2)}/${timestamp()}-${newuuid()}.json"
WAIT_S = 20


def rule_properties(name, stream=STREAM, bucket=BUCKET, sql=CONTRACT_SQL, disabled=False):
    """What the deployer resolves from the template's AWS::IoT::TopicRule resource."""
    return {
        "RuleName": name,
        "TopicRulePayload": {
            "AwsIotSqlVersion": "2016-03-23",
            "RuleDisabled": disabled,
            "Sql": sql,
            "Actions": [
                {
                    "Kinesis": {
                        "StreamName": stream,
                        "PartitionKey": "${topic(2)}",
                        "RoleArn": "arn:aws:iam::123456789012:role/rule",
                    }
                }
            ],
            "ErrorAction": {
                "S3": {
                    "BucketName": bucket,
                    "Key": ERROR_KEY,
                    "RoleArn": "arn:aws:iam::123456789012:role/rule",
                }
            },
        },
    }


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    directory = tmp_path_factory.mktemp("iot-rules")
    ca = LocalCA(directory / "ca")
    acl = (*DEVICE_ACL, *reader_acl(ENGINE_CLIENT_ID, *ENGINE_READS))
    with MosquittoBroker(directory / "broker", ca, acl=acl) as running:
        yield running


@pytest.fixture(scope="module")
def device(broker):
    return broker.ca.issue_device_certificate(THING)


@pytest.fixture(scope="module")
def engine_identity(broker):
    return broker.ca.issue_device_certificate(ENGINE_CLIENT_ID)


@pytest.fixture
def connection(broker, engine_identity):
    # A fresh client id per test, so no persistent session leaks from one test to the next.
    return MqttConnection(
        host=broker.host,
        port=broker.port,
        ca_path=engine_identity.ca,
        cert_path=engine_identity.certificate,
        key_path=engine_identity.private_key,
        client_id=f"{ENGINE_CLIENT_ID}-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def cloud(aws):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return kinesis, s3


def publish(broker, device, payload: bytes, topic=TOPIC, tmp_path=None):
    path = tmp_path / f"{uuid.uuid4().hex}.bin"
    path.write_bytes(payload)
    subprocess.run(
        [
            "mosquitto_pub",
            *("-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1"),
            *("--cafile", str(device.ca), "--cert", str(device.certificate)),
            *("--key", str(device.private_key), "-i", THING, "-t", topic, "-f", str(path)),
        ],
        check=True,
        timeout=WAIT_S,
        capture_output=True,
    )


def stream_records(kinesis, count, stream=STREAM):
    """Poll the stream until `count` records arrived (or give up after WAIT_S)."""
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = []
    deadline = time.monotonic() + WAIT_S
    while len(records) < count and time.monotonic() < deadline:
        response = kinesis.get_records(ShardIterator=iterator)
        records.extend(response["Records"])
        iterator = response["NextShardIterator"]
        if len(records) < count:
            time.sleep(0.1)
    return records


def error_objects(s3, count):
    deadline = time.monotonic() + WAIT_S
    while True:
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="errors/iot-rule/").get("Contents", [])
        if len(listing) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return {
        item["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for item in listing
    }


def wait_for(predicate, seconds=WAIT_S):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_every_message_reaches_kinesis_in_the_envelope(broker, device, connection, cloud, tmp_path):
    kinesis, _ = cloud
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))
    payloads = [
        json.dumps({"schema": 1, "device_id": THING, "seq": 1}).encode(),
        b"\xff\xfe not JSON, not even UTF-8",
        b"",
    ]
    before_ms = int(time.time() * 1000)
    with TopicRuleEngine([rule], connection) as engine:
        for payload in payloads:
            publish(broker, device, payload, tmp_path=tmp_path)
        records = stream_records(kinesis, len(payloads))
        assert wait_for(lambda: engine.stats.acknowledged == len(payloads))
    assert [r["PartitionKey"] for r in records] == [THING] * 3
    envelopes = [json.loads(r["Data"]) for r in records]
    assert [base64.b64decode(e["payload"]) for e in envelopes] == payloads
    for envelope in envelopes:
        assert set(envelope) == {"payload", "thing_name", "arrival_ms", "client_id"}
        assert envelope["thing_name"] == THING
        assert envelope["arrival_ms"] >= before_ms
    assert engine.stats.parse_errors == 0
    assert engine.stats.error_actions == 0


def test_basic_ingest_reaches_the_named_rule_only_with_the_topic_without_its_prefix(
    broker, device, connection, cloud, tmp_path
):
    kinesis, _ = cloud
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))
    with TopicRuleEngine([rule], connection) as engine:
        assert "$aws/rules/SensorIngest/sensors/+/telemetry" in engine.topic_filters
        # Another rule's Basic Ingest topic: the engine runs no such rule, so it never sees it.
        publish(broker, device, b'{"seq": 1}', f"$aws/rules/Other/{TOPIC}", tmp_path)
        publish(broker, device, b'{"seq": 2}', f"$aws/rules/SensorIngest/{TOPIC}", tmp_path)
        [record] = stream_records(kinesis, 1)
        assert wait_for(lambda: engine.stats.acknowledged == 1)
    # The message to the other rule was published first: it would have arrived first.
    assert engine.stats.received == 1
    assert record["PartitionKey"] == THING  # ${topic(2)} after the prefix
    envelope = json.loads(record["Data"])
    assert envelope["thing_name"] == THING
    assert base64.b64decode(envelope["payload"]) == b'{"seq": 2}'


def test_a_failing_action_sends_the_aws_shaped_error_message(
    broker, device, connection, cloud, tmp_path
):
    kinesis, s3 = cloud
    good = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))
    broken = TopicRuleConfig.from_cfn_properties(rule_properties("Broken", stream="no-such"))
    payload = b'{"seq": 7}'
    with TopicRuleEngine([good, broken], connection) as engine:
        publish(broker, device, payload, tmp_path=tmp_path)
        objects = error_objects(s3, 1)
        assert wait_for(lambda: engine.stats.acknowledged == 1)
    [(key, message)] = objects.items()
    assert key.startswith(f"errors/iot-rule/{THING}/")
    assert key.endswith(".json")
    assert message["ruleName"] == "Broken"
    assert message["topic"] == TOPIC
    assert base64.b64decode(message["base64OriginalPayload"]) == payload
    [failure] = message["failures"]
    assert failure["failedAction"] == "KinesisAction"
    assert failure["failedResource"] == "no-such"
    assert "ResourceNotFoundException" in failure["errorMessage"]
    assert {"cloudwatchTraceId", "clientId"} <= set(message)
    # The other rule on the same topic was not affected.
    assert len(stream_records(kinesis, 1)) == 1
    assert (engine.stats.action_failures, engine.stats.error_actions) == (1, 1)


def test_messages_published_while_the_engine_is_down_are_delivered_on_restart(
    broker, device, connection, cloud, tmp_path
):
    kinesis, _ = cloud
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))
    with TopicRuleEngine([rule], connection):
        pass  # the first start creates the persistent session and its subscription
    payloads = [f'{{"seq": {n}}}'.encode() for n in range(5)]
    for payload in payloads:
        publish(broker, device, payload, tmp_path=tmp_path)
    with TopicRuleEngine([rule], connection) as engine:
        records = stream_records(kinesis, len(payloads))
        assert wait_for(lambda: engine.stats.acknowledged == len(payloads))
    decoded = [base64.b64decode(json.loads(r["Data"])["payload"]) for r in records]
    assert decoded == payloads


def test_a_message_that_cannot_be_settled_is_not_acknowledged_and_comes_back(
    broker, device, connection, cloud, tmp_path
):
    _, s3 = cloud
    # Both the action and the error action fail: the message must stay with the broker.
    rule = TopicRuleConfig.from_cfn_properties(
        rule_properties("Stuck", stream="no-such", bucket="not-yet")
    )
    payload = b'{"seq": 99}'
    engine = TopicRuleEngine([rule], connection, retry_delay_s=0.05, max_retry_delay_s=0.2)
    with engine:
        publish(broker, device, payload, tmp_path=tmp_path)
        assert wait_for(lambda: engine.stats.retries >= 2)
    assert engine.stats.acknowledged == 0
    s3.create_bucket(Bucket="not-yet")  # the error location appears; the broker redelivers
    with TopicRuleEngine([rule], connection) as restarted:
        assert wait_for(lambda: restarted.stats.acknowledged == 1)
    [stored] = s3.list_objects_v2(Bucket="not-yet")["Contents"]
    message = json.loads(s3.get_object(Bucket="not-yet", Key=stored["Key"])["Body"].read())
    assert base64.b64decode(message["base64OriginalPayload"]) == payload
    assert message["failures"][0]["failedResource"] == "no-such"


def test_a_lost_connection_is_logged_with_the_broker_s_reason_and_a_stop_is_not(
    connection, cloud, caplog
):
    """A client with the engine's client id takes its session over: the broker drops the
    engine, which says so and why, and reconnects; stopping the engine logs no loss."""
    caplog.set_level(logging.WARNING, logger="localcloud.iot.rules")
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))

    def losses() -> list[str]:
        return [r.getMessage() for r in caplog.records if "lost its connection" in r.getMessage()]

    with TopicRuleEngine([rule], connection) as engine:
        joined, gone = threading.Event(), threading.Event()
        intruder = mqtt5_client_builder.mtls_from_path(
            **connection.client_options(),
            **connection.lifecycle_options(joined, gone, "intruder"),
        )
        intruder.start()
        try:
            assert joined.wait(WAIT_S), "the second client did not connect"
        finally:
            intruder.stop()
        assert gone.wait(WAIT_S)
        assert wait_for(lambda: bool(losses()))
        assert wait_for(engine._connected.is_set)  # it reconnects by itself
    engine_losses = [loss for loss in losses() if loss.startswith("rule engine lost")]
    assert engine_losses, losses()
    # Each is the take-over (the two may trade the session once more), which mosquitto 2.0.11
    # does by closing the socket without a DISCONNECT; the stop is not a loss.
    for loss in engine_losses:
        assert "AWS_ERROR_MQTT_UNEXPECTED_HANGUP: The connection was closed" in loss, losses()


def test_disabled_rules_do_not_run(broker, device, connection, cloud, tmp_path):
    kinesis, _ = cloud
    enabled = TopicRuleConfig.from_cfn_properties(rule_properties("On"))
    disabled = TopicRuleConfig.from_cfn_properties(
        rule_properties("Off", stream="no-such", disabled=True)
    )
    with TopicRuleEngine([enabled, disabled], connection) as engine:
        publish(broker, device, b"{}", tmp_path=tmp_path)
        assert wait_for(lambda: engine.stats.acknowledged == 1)
    assert [rule.name for rule in engine.rules] == ["On"]
    assert engine.stats.action_failures == 0
    assert len(stream_records(kinesis, 1)) == 1


def test_parse_errors(broker, device, connection, cloud, tmp_path):
    kinesis, _ = cloud
    sql = "SELECT seq, topic(2) AS thing FROM 'sensors/+/telemetry'"
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("Fields", sql=sql))
    with TopicRuleEngine([rule], connection) as engine:
        for payload in (b'{"seq": 11}', b"not json"):
            publish(broker, device, payload, tmp_path=tmp_path)
        assert wait_for(lambda: engine.stats.acknowledged == 2)
    [record] = stream_records(kinesis, 1)
    assert json.loads(record["Data"]) == {"seq": 11, "thing": THING}
    assert (engine.stats.matched, engine.stats.parse_errors) == (1, 1)


def test_the_broker_acl_decides_what_the_engine_may_read(
    broker, device, connection, cloud, tmp_path
):
    # mosquitto grants the subscription but delivers only what the ACL lets the CN read.
    intruder = broker.ca.issue_device_certificate("not-the-rule-engine")
    foreign = MqttConnection(
        host=connection.host,
        port=connection.port,
        ca_path=intruder.ca,
        cert_path=intruder.certificate,
        key_path=intruder.private_key,
        client_id="not-the-rule-engine",
    )
    rule = TopicRuleConfig.from_cfn_properties(rule_properties("SensorIngest"))
    with TopicRuleEngine([rule], foreign) as outsider, TopicRuleEngine([rule], connection) as own:
        publish(broker, device, b"{}", tmp_path=tmp_path)
        assert wait_for(lambda: own.stats.acknowledged == 1)
    assert outsider.stats.received == 0


def test_without_an_error_action_failed_actions_are_retried_until_they_succeed(cloud, connection):
    kinesis, _ = cloud
    props = rule_properties("NoErrorAction", stream="later")
    del props["TopicRulePayload"]["ErrorAction"]
    rule = TopicRuleConfig.from_cfn_properties(props)
    engine = TopicRuleEngine([rule], connection, retry_delay_s=0.05, max_retry_delay_s=0.2)
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.extend(engine.process(TOPIC, b"{}")))
    worker.start()  # no MQTT here: process() is what the engine runs for each message
    assert wait_for(lambda: engine.stats.retries >= 1)
    kinesis.create_stream(StreamName="later", ShardCount=1)
    worker.join(WAIT_S)
    [outcome] = outcomes
    assert outcome.settled
    assert outcome.attempts >= 2
    assert len(stream_records(kinesis, 1, stream="later")) == 1


def test_one_bad_message_in_a_batch_fails_alone(cloud, connection):
    kinesis, s3 = cloud
    sql = "SELECT * FROM 'sensors/+/telemetry'"
    props = rule_properties("KeyedBySeq", sql=sql)
    props["TopicRulePayload"]["Actions"][0]["Kinesis"]["PartitionKey"] = "${seq}"
    engine = TopicRuleEngine([TopicRuleConfig.from_cfn_properties(props)], connection)
    now = int(time.time() * 1000)
    batch = [
        (TOPIC, b'{"seq": 1}', now),
        (TOPIC, b'{"no_seq": 2}', now),
        (TOPIC, b'{"seq": 3}', now),
    ]
    results = engine.process_batch(batch)
    assert [[bool(o.failures) for o in outcomes] for outcomes in results] == [
        [False],
        [True],
        [False],
    ]
    assert all(o.settled for outcomes in results for o in outcomes)
    records = stream_records(kinesis, 2)
    assert [(r["PartitionKey"], json.loads(r["Data"])) for r in records] == [
        ("1", {"seq": 1}),
        ("3", {"seq": 3}),
    ]
    [message] = error_objects(s3, 1).values()
    assert base64.b64decode(message["base64OriginalPayload"]) == b'{"no_seq": 2}'
    assert "partition key '' must be 1 to 256 characters" in message["failures"][0]["errorMessage"]


def flood(broker, device, lines) -> None:
    """Publish every line of a file as one QoS 1 message, as fast as the broker takes them."""
    with lines.open("rb") as stdin:
        subprocess.run(
            [
                "mosquitto_pub",
                *("-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1"),
                *("--cafile", str(device.ca), "--cert", str(device.certificate)),
                *("--key", str(device.private_key), "-i", THING, "-t", TOPIC, "-l"),
            ],
            stdin=stdin,
            check=True,
            timeout=120,
            capture_output=True,
        )


def seq_lines(path, seqs) -> Path:
    path.write_text("".join(json.dumps({"seq": seq}) + "\n" for seq in seqs))
    return path


def stream_seqs(kinesis) -> list[int]:
    records = all_stream_records(kinesis)
    return [json.loads(base64.b64decode(json.loads(r["Data"])["payload"]))["seq"] for r in records]


def test_a_flood_to_the_engine_process_keeps_the_connection_and_puts_each_message_once(
    broker, device, connection, cloud, tmp_path
):
    """The broker sends the engine everything queued for it at once (mosquitto does not hold it
    to its receive maximum). In its own process, as the local cloud runs it, the engine's MQTT
    client must still write PUBACKs and PINGREQs in time (keep-alive 2 s here): a broker that
    drops the connection sends every unacknowledged message again, and each reaches Kinesis
    twice. (In the local cloud's process, beside busy threads, it did not always.)"""
    kinesis, _ = cloud
    mqtt = dataclasses.replace(connection, keep_alive_s=2)
    count = 5000
    engine = RuleEngineProcess({"Flood": rule_properties("Flood")}, mqtt, tmp_path / "engine")
    with engine:
        flood(broker, device, seq_lines(tmp_path / "flood.txt", range(count)))
        assert wait_for(lambda: engine.stats.acknowledged == count, seconds=120)
    timeouts = broker.log_path.read_text().count(f"{mqtt.client_id} has exceeded timeout")
    assert (timeouts, engine.stats.acknowledged) == (0, count)  # written when it stopped
    assert engine.stats.received == count  # nothing delivered again
    assert sorted(stream_seqs(kinesis)) == list(range(count))


def test_a_killed_engine_process_loses_nothing_and_its_successor_takes_the_rest(
    broker, device, connection, cloud, tmp_path
):
    """SIGKILL mid-flood: what the engine had not acknowledged, and what was published while it
    was down, reaches Kinesis after the restart (a message may arrive twice: at least once)."""
    kinesis, _ = cloud
    rules = {"Crash": rule_properties("Crash")}
    count = 3000
    first = RuleEngineProcess(rules, connection, tmp_path / "engine").start()
    try:
        publisher = threading.Thread(
            target=flood, args=(broker, device, seq_lines(tmp_path / "a.txt", range(count)))
        )
        publisher.start()
        assert wait_for(lambda: first.stats.acknowledged >= 200, seconds=60)
    finally:
        first.kill()
    publisher.join()
    flood(broker, device, seq_lines(tmp_path / "b.txt", range(count, 2 * count)))
    with RuleEngineProcess(rules, connection, tmp_path / "engine") as second:
        assert wait_for(lambda: set(stream_seqs(kinesis)) == set(range(2 * count)), seconds=120)
        assert second.stats.received > count  # the backlog came to the new process


def test_an_engine_process_that_dies_by_itself_is_started_again_and_misses_nothing(
    broker, device, connection, cloud, tmp_path
):
    kinesis, _ = cloud
    engine = RuleEngineProcess({"Watched": rule_properties("Watched")}, connection, tmp_path / "e")
    with engine:
        first = engine.pid
        os.kill(first, signal.SIGKILL)  # not through the engine: as the OOM killer would
        publish(broker, device, b'{"seq": 1}', tmp_path=tmp_path)
        assert wait_for(lambda: stream_seqs(kinesis) == [1], seconds=60)
        assert engine.restarts == 1
        assert engine.pid not in (None, first)
    assert not engine.running


def test_an_engine_process_that_cannot_start_says_why(connection, cloud, tmp_path):
    broken = dataclasses.replace(connection, cert_path=tmp_path / "missing.pem")
    engine = RuleEngineProcess({"R": rule_properties("R")}, broken, tmp_path / "engine")
    with pytest.raises(RuntimeError, match="did not subscribe") as raised:
        engine.start(timeout=30)
    assert "missing.pem" in str(raised.value)  # the log's tail names the problem
    assert not engine.running


def all_stream_records(kinesis, stream=STREAM):
    """Every record in the stream's shard: pages until one comes back empty."""
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = []
    while True:
        response = kinesis.get_records(ShardIterator=iterator)
        if not response["Records"]:
            return records
        records.extend(response["Records"])
        iterator = response["NextShardIterator"]
