"""Fixtures of the compactor's integration tests: moto's DynamoDB (through a proxy that gives it
DynamoDB's per-request isolation), S3 and Glue, and the compactor's environment."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from serial_proxy import SerialProxy

from compactor.settings import Settings
from compactor.state import StateStore

RESULTS_BUCKET = "query-results"
ENV = {
    "STATE_TABLE": "compactor-state",
    "COMPACTION_THRESHOLD": "20",
    "COMPACTION_MAX_AGE_MINUTES": "60",
    "GLUE_DATABASE": "sensor_pipeline",
    "RAW_TABLE": "raw_readings",
    "COMPACTED_TABLE": "readings",
    "ATHENA_WORKGROUP": "sensor-pipeline",
    "DATA_BUCKET": "sensor-data",
    "RAW_PREFIX": "raw/",
    "COMPACTED_PREFIX": "compacted/",
    "POWERTOOLS_SERVICE_NAME": "compactor",
    "POWERTOOLS_METRICS_NAMESPACE": "SensorPipelineTest",
}


@pytest.fixture(scope="session")
def dynamodb_proxy(moto_server):
    with SerialProxy(moto_server.endpoint) as proxy:
        yield proxy


def create_state_table(client, name):
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class Cloud:
    settings: Settings
    store: StateStore
    dynamodb: object
    s3: object
    glue: object

    def keys(self, prefix, bucket=None):
        bucket = bucket or self.settings.data_bucket
        listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture
def cloud(aws, dynamodb_proxy, monkeypatch):
    """A clean moto with the state table, the data bucket and the Glue database."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_proxy.endpoint)
    settings = Settings.from_env(ENV)
    dynamodb = boto3.client("dynamodb")
    create_state_table(dynamodb, settings.state_table)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=settings.data_bucket)
    s3.create_bucket(Bucket=RESULTS_BUCKET)
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": settings.glue_database})
    return Cloud(settings, StateStore(dynamodb, settings.state_table), dynamodb, s3, glue)


class TestTime:
    """The wall clock and Lambda's remaining time of one invocation; sleeping advances both."""

    __test__ = False

    def __init__(self, now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC), remaining_ms=300_000):
        self.now = now
        self.remaining = remaining_ms
        self.sleeps = []

    def clock(self):
        return self.now

    def remaining_ms(self):
        return int(self.remaining)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)
        self.remaining -= seconds * 1000

    def new_invocation(self, remaining_ms=300_000, later_s=0):
        self.now += timedelta(seconds=later_s)
        self.remaining = remaining_ms
