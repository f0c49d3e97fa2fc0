"""The alerter's AWS resources on the moto server: tables, bucket, topic with a queue on it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from alerter_world import THRESHOLDS, AlertWorld

from localcloud.core.aws import REGION
from localcloud.moto.server import MotoServer


def _table(client: Any, name: str, hash_key: str, range_key: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": hash_key, "AttributeType": "S"},
            {"AttributeName": range_key, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def world(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AlertWorld:
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT_DATA_PLANE", aws.endpoint)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _table(dynamodb, "thresholds", "scope", "metric")
    _table(dynamodb, "alert-state", "device_id", "metric")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="data")
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {
        "THRESHOLD_TABLE": "thresholds",
        "STATE_TABLE": "alert-state",
        "DEFAULT_THRESHOLDS": json.dumps(THRESHOLDS),
        "THRESHOLD_CACHE_SECONDS": "0",
        "ALERT_TOPIC_ARN": topic,
        "DATA_BUCKET": "data",
        "ALERTS_PREFIX": "alerts/",
        "ALERTS_TOPIC_TEMPLATE": "sensors/{thing}/alerts",
        "AWS_ENDPOINT_URL_IOT_DATA_PLANE": aws.endpoint,
    }
    return AlertWorld(env, queue_url)
