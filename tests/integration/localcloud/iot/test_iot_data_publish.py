"""The local IoT data plane: boto3's `iot-data` Publish reaching subscribers of mosquitto."""

import json
import subprocess
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.core.aws import arn
from localcloud.iot.broker import DEFAULT_ACL, MosquittoBroker, reader_acl, writer_acl
from localcloud.iot.ca import LocalCA
from localcloud.iot.data_plane import IOT_DATA_CLIENT_ID, IotDataServer, iot_data_connection

pytestmark = pytest.mark.integration

OBSERVER = "alerts-observer"
WAIT_S = 20


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    directory = tmp_path_factory.mktemp("iot-data")
    ca = LocalCA(directory / "ca")
    acl = (
        *DEFAULT_ACL,
        *writer_acl(IOT_DATA_CLIENT_ID),
        *reader_acl(OBSERVER, "sensors/+/alerts"),
    )
    with MosquittoBroker(directory / "broker", ca, acl=acl) as running:
        yield running


@pytest.fixture(scope="module")
def server(broker):
    identity = broker.ca.issue_device_certificate(IOT_DATA_CLIENT_ID)
    with IotDataServer(iot_data_connection(broker.host, broker.port, identity)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return boto3.client(
        "iot-data",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="localcloud",
        aws_secret_access_key="localcloud",
        config=Config(retries={"max_attempts": 1}),
    )


def subscribe(broker, topic, count=1):
    """Start a subscriber printing `<retain flag> <qos> <topic> <payload>` per message."""
    observer = broker.ca.issue_device_certificate(OBSERVER)
    return subprocess.Popen(
        [
            "mosquitto_sub",
            *("-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1"),
            *("--cafile", str(observer.ca), "--cert", str(observer.certificate)),
            *("--key", str(observer.private_key), "-i", f"{OBSERVER}-{uuid.uuid4().hex[:8]}"),
            *("-t", topic, "-C", str(count), "-W", str(WAIT_S), "-F", "%r %q %t %p"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def received(process):
    out, err = process.communicate(timeout=WAIT_S + 5)
    assert process.returncode == 0, err
    return out.splitlines()


def test_a_retained_qos1_publish_reaches_a_late_subscriber(broker, client):
    topic = "sensors/sensehat-01/alerts"
    response = client.publish(topic=topic, qos=1, retain=True, payload=b'{"level": "warning"}')
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    # subscribed after the publish: the broker hands over the retained message at once
    assert received(subscribe(broker, topic)) == [f'1 1 {topic} {{"level": "warning"}}']


def test_a_live_subscriber_gets_the_message_not_flagged_retained(broker, client):
    topic = "sensors/sensehat-02/alerts"
    subscriber = subscribe(broker, topic, count=1)
    # publish until the subscriber (subscribed some time after its start) has one message
    deadline = time.monotonic() + WAIT_S
    while subscriber.poll() is None and time.monotonic() < deadline:
        client.publish(topic=topic, qos=1, payload=b"live")
        time.sleep(0.2)
    assert received(subscriber) == [f"0 1 {topic} live"]


@pytest.mark.parametrize(
    "topic", ["sensors/+/alerts", "sensors/#", "$aws/things/x/shadow/update", "a/b/c/d/e/f/g/h/i"]
)
def test_an_invalid_topic_is_an_invalid_request(client, topic):
    with pytest.raises(client.exceptions.InvalidRequestException):
        client.publish(topic=topic, qos=1, payload=b"{}")


def test_qos_2_is_refused(client):
    with pytest.raises(client.exceptions.InvalidRequestException, match="qos"):
        client.publish(topic="sensors/sensehat-01/alerts", qos=2, payload=b"{}")


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"contentType": "application/json"}, "contentType"),
        ({"userProperties": '[{"k": "v"}]'}, "x-amz-mqtt5-user-properties"),
        ({"correlationData": "YWJj"}, "x-amz-mqtt5-correlation-data"),
    ],
)
def test_mqtt5_properties_are_refused_not_dropped(client, extra, named):
    with pytest.raises(client.exceptions.InvalidRequestException, match=named):
        client.publish(topic="sensors/sensehat-01/alerts", qos=1, payload=b"{}", **extra)


def test_a_topic_the_acl_does_not_grant_is_unauthorized(client):
    with pytest.raises(client.exceptions.UnauthorizedException):
        client.publish(topic="sensors/sensehat-01/telemetry", qos=1, payload=b"{}")


def test_other_operations_say_they_are_not_served(client):
    with pytest.raises(client.exceptions.InvalidRequestException, match="GetRetainedMessage"):
        client.get_retained_message(topic="sensors/sensehat-01/alerts")


def test_a_role_session_publishes_only_where_its_policy_allows(aws, server):
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="alerter", AssumeRolePolicyDocument=json.dumps(trust))
    topics = arn("iot", "topic/sensors/*/alerts")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": topics}],
    }
    iam.put_role_policy(RoleName="alerter", PolicyName="p", PolicyDocument=json.dumps(policy))
    session = boto3.client("sts").assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="fn")
    credentials = session["Credentials"]
    client = boto3.client(
        "iot-data",
        endpoint_url=server.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )

    client.publish(topic="sensors/dev-1/alerts", qos=0, payload=b"{}")
    for topic, retain in (("sensors/dev-1/readings", False), ("sensors/dev-1/alerts", True)):
        with pytest.raises(ClientError) as caught:
            client.publish(topic=topic, qos=0, retain=retain, payload=b"{}")
        assert caught.value.response["Error"]["Code"] == "ForbiddenException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert "assumed-role/alerter/fn is not authorized" in str(caught.value)
