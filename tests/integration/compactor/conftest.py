"""Fixtures of the compactor's integration tests: moto's DynamoDB (through a proxy that gives it
DynamoDB's per-request isolation), S3 and Glue, and the compactor's environment."""

from dataclasses import dataclass

import boto3
import pytest
from compactor_cloud import RESULTS_BUCKET, create_state_table
from serial_proxy import SerialProxy

from compactor.settings import Settings
from compactor.state import StateStore
from tests.compactor_env import COMPACTOR_ENV

ENV = {
    **COMPACTOR_ENV,
    "COMPACTED_TABLE": "readings",
    "POWERTOOLS_SERVICE_NAME": "compactor",
    "POWERTOOLS_METRICS_NAMESPACE": "SensorPipelineTest",
}


@pytest.fixture(scope="session")
def dynamodb_proxy(moto_server):
    with SerialProxy(moto_server.endpoint) as proxy:
        yield proxy


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
