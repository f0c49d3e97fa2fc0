"""Builders for the compactor's tests: settings, S3 notifications, raw objects."""

from datetime import datetime, timedelta
from urllib.parse import quote_plus

from compactor.objects import RawObject, format_time
from compactor.settings import Settings
from tests.compactor_env import COMPACTOR_ENV

ENV = COMPACTOR_ENV


def settings(**changes) -> Settings:
    return Settings.from_env({**ENV, **changes})


def raw_key(dt="2026-11-22", hour=10, name="sensor-raw-1-2026-11-22-10-00-00-abc.gz"):
    return f"raw/dt={dt}/hour={hour:02d}/{name}"


def s3_record(
    key,
    bucket="sensor-data",
    event_time="2026-11-22T10:01:02.345Z",
    event_name="ObjectCreated:Put",
    encode=True,
):
    """One record as S3 sends it: the key URL-encoded (`=` as %3D, space as +)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:FIREHOSE"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "X", "x-amz-id-2": "Y"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "raw-created",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": quote_plus(key, safe="/") if encode else key,
                "size": 1234,
                "eTag": "0123456789abcdef",
                "sequencer": "0A1B2C3D4E5F678901",
            },
        },
    }


def s3_event(*records):
    return {"Records": list(records)}


def raw_object(i, dt="2026-11-22", hour=10, bucket="sensor-data"):
    """The i-th raw object; event times increase with i (one second apart)."""
    key = raw_key(dt, hour, f"sensor-raw-1-{dt}-{hour:02d}-{i:05d}.gz")
    created = datetime.fromisoformat(f"{dt}T{hour:02d}:00:00+00:00") + timedelta(seconds=i)
    return RawObject(bucket, key, dt, hour, format_time(created))
