"""Raw objects and S3 notifications for the compactor's integration tests."""

from datetime import datetime, timedelta
from urllib.parse import quote_plus

from compactor.objects import RawObject, format_time

BUCKET = "sensor-data"


def raw_object(i, dt="2026-11-22", hour=10, bucket=BUCKET):
    """The i-th raw object; event times increase with i (one second apart)."""
    key = f"raw/dt={dt}/hour={hour:02d}/sensor-raw-1-{dt}-{hour:02d}-{i:05d}.gz"
    created = datetime.fromisoformat(f"{dt}T{hour:02d}:00:00+00:00") + timedelta(seconds=i)
    return RawObject(bucket, key, dt, hour, format_time(created))


def s3_event(*objects):
    """The notification S3 sends for these objects (keys URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": obj.event_time,
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": obj.bucket, "arn": f"arn:aws:s3:::{obj.bucket}"},
                    "object": {"key": quote_plus(obj.key, safe="/"), "size": 100},
                },
            }
            for obj in objects
        ]
    }
