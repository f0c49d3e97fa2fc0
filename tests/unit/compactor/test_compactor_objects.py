"""S3 notification records -> raw objects: URL-decoding, the raw/ layout, clear rejections."""

import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from compactor_events import raw_key, s3_event, s3_record, settings

from compactor.objects import normalize_time, objects_from_s3_event, raw_object


def parse(*records):
    return objects_from_s3_event(S3Event(s3_event(*records)), settings())


def test_url_encoded_key_is_decoded_and_partitions_parsed():
    accepted, rejected = parse(s3_record(raw_key("2026-11-22", 7, "a b+c.gz")))
    assert rejected == []
    [obj] = accepted
    assert obj.key == "raw/dt=2026-11-22/hour=07/a b+c.gz"
    assert (obj.dt, obj.hour) == ("2026-11-22", 7)
    assert obj.path == "s3://sensor-data/raw/dt=2026-11-22/hour=07/a b+c.gz"


def test_literal_encoded_key_from_the_documentation_shape():
    record = s3_record("raw/dt%3D2026-11-22/hour%3D10/x.gz", encode=False)
    [obj], _ = parse(record)
    assert obj.key == "raw/dt=2026-11-22/hour=10/x.gz"


def test_event_time_is_normalized_to_utc_milliseconds():
    [obj], _ = parse(s3_record(raw_key(), event_time="2026-11-22T11:01:02.3+01:00"))
    assert obj.event_time == "2026-11-22T10:01:02.300Z"
    assert normalize_time("2026-11-22T10:01:02Z") == "2026-11-22T10:01:02.000Z"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (s3_record(raw_key(), bucket="other-bucket"), "is not the data bucket"),
        (s3_record("errors/invalid/dt=2026-11-22/hour=10/x.jsonl"), "is not under 'raw/'"),
        (s3_record("raw/2026/11/22/10/x.gz"), "does not match raw/dt=YYYY-MM-DD/hour=HH"),
        (s3_record("raw/dt=2026-11-22/hour=10/"), "does not match"),
        (s3_record("raw/dt=2026-11-22/hour=10/a/b.gz"), "does not match"),
        (s3_record("raw/dt=2026-02-30/hour=10/x.gz"), "is not a calendar date"),
        (s3_record("raw/dt=2026-11-22/hour=24/x.gz"), "is not an hour of the day"),
        (s3_record(raw_key(name="a\nb.gz")), "control characters"),
        (s3_record(raw_key(), event_name="ObjectRemoved:Delete"), "is not ObjectCreated"),
        (s3_record(raw_key(), event_time="yesterday"), "is not an ISO-8601 time"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(record, reason):
    accepted, rejected = parse(record)
    assert accepted == []
    [item] = rejected
    assert reason in item.reason


def test_a_record_missing_fields_is_rejected_not_raised():
    record = s3_record(raw_key())
    del record["s3"]["object"]
    accepted, rejected = parse(record, s3_record(raw_key(name="ok.gz")))
    assert [o.key for o in accepted] == [raw_key(name="ok.gz")]
    assert "lacks a field" in rejected[0].reason


def test_raw_object_respects_a_configured_prefix():
    custom = settings(RAW_PREFIX="landing/raw/")
    obj = raw_object(
        "sensor-data", "landing/raw/dt=2026-01-01/hour=00/x.gz", "2026-01-01T00:00:00Z", custom
    )
    assert (obj.dt, obj.hour) == ("2026-01-01", 0)
