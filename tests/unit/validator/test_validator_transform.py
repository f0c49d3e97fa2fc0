"""The Firehose transformation contract: results per record, output format, invalid handling."""

import base64
import json

import pytest
from validator_events import ARRIVAL_MS, THING, decoded, envelope, event, good_reading, record

from validator import transform
from validator.invalid_sink import error_key, group_by_key
from validator.settings import ConfigurationError, InvalidRecords, OutputFormat, Settings
from validator.transform import process_event, transform_batch

WRITE = Settings(OutputFormat.S3_LINES, InvalidRecords.WRITE, "data-bucket")
DROP = Settings(OutputFormat.SEARCH_DOCUMENTS, InvalidRecords.DROP)


class RecordingS3:
    def __init__(self, error: Exception | None = None) -> None:
        self.puts: list[dict] = []
        self.error = error

    def put_object(self, **kwargs):
        if self.error is not None:
            raise self.error
        self.puts.append(kwargs)
        return {}


def no_s3():
    raise AssertionError("S3 must not be used")


def test_valid_reading_becomes_one_json_line_with_thing_name_and_arrival():
    result = transform_batch(event(record(envelope(good_reading()))), OutputFormat.S3_LINES)
    [out] = result.response()["records"]
    assert out["recordId"] == "r-1"
    assert out["result"] == "Ok"
    data = decoded(out)
    assert data.endswith(b"}\n")
    assert data.count(b"\n") == 1
    assert b": " not in data  # compact
    assert b", " not in data
    assert json.loads(data) == {**good_reading(), "thing_name": THING, "arrival_ms": ARRIVAL_MS}


def test_search_documents_have_no_trailing_newline():
    result = transform_batch(event(record(envelope(good_reading()))), OutputFormat.SEARCH_DOCUMENTS)
    data = decoded(result.records[0])
    assert not data.endswith(b"\n")
    assert json.loads(data)["thing_name"] == THING


def test_one_result_per_record_in_order_with_the_same_ids():
    records = [
        record(envelope(good_reading(seq=1)), "a"),
        record(envelope(b"not json"), "b"),
        record(envelope(good_reading(seq=3)), "c"),
        record(b"{broken envelope", "d"),
    ]
    original = {r["recordId"]: r["data"] for r in records}
    result = transform_batch(event(*records), OutputFormat.S3_LINES)
    assert [(r["recordId"], r["result"]) for r in result.records] == [
        ("a", "Ok"),
        ("b", "Dropped"),
        ("c", "Ok"),
        ("d", "Dropped"),
    ]
    assert result.records[1]["data"] == original["b"]  # dropped records keep their data
    assert [json.loads(decoded(result.records[i]))["seq"] for i in (0, 2)] == [1, 3]
    assert (result.ok, len(result.invalid), result.failed) == (2, 2, 0)


def test_invalid_record_line_has_reason_and_what_the_envelope_said():
    bad = good_reading(humidity=140)
    result = transform_batch(event(record(envelope(bad), "r-9")), OutputFormat.S3_LINES)
    [line] = result.invalid
    assert json.loads(line.line()) == {
        "reason": "field 'humidity': 140 is out of range (0 .. 100 %RH)",
        "record_id": "r-9",
        "thing_name": THING,
        "arrival_ms": ARRIVAL_MS,
        "payload_base64": base64.b64encode(json.dumps(bad).encode()).decode(),
    }
    assert line.problem == "out_of_range"


def test_reading_from_a_foreign_device_is_dropped():
    foreign = envelope(good_reading(device_id="sensehat-02"), thing_name="sensehat-01")
    result = transform_batch(event(record(foreign)), OutputFormat.S3_LINES)
    assert result.records[0]["result"] == "Dropped"
    assert result.invalid[0].problem == "device_mismatch"


def test_non_utf8_payload_is_dropped_with_its_bytes_kept():
    raw = b"\x80\x81 sensor garbage"
    result = transform_batch(event(record(envelope(raw))), OutputFormat.S3_LINES)
    [line] = result.invalid
    assert line.problem == "not_utf8"
    assert base64.b64decode(line.payload_base64) == raw


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01", "record data is not a JSON object"),
        (b"[1]", "record data is a JSON array, not an object"),
        (
            json.dumps({"thing_name": THING, "arrival_ms": 1, "client_id": THING}).encode(),
            "no 'payload'",
        ),
        (
            json.dumps(
                {"payload": "e30=", "thing_name": THING, "arrival_ms": True, "client_id": "c"}
            ).encode(),
            "envelope 'arrival_ms' must be an integer, got boolean true",
        ),
        (
            json.dumps(
                {"payload": "e30=", "thing_name": "a/b", "arrival_ms": 1, "client_id": "c"}
            ).encode(),
            "envelope 'thing_name' \"a/b\" is not a valid thing name",
        ),
        (
            json.dumps(
                {"payload": "%%%", "thing_name": THING, "arrival_ms": 1, "client_id": "c"}
            ).encode(),
            "envelope 'payload' is not valid base64",
        ),
    ],
)
def test_malformed_envelopes_are_dropped_with_a_reason(data, reason):
    result = transform_batch(event(record(data)), OutputFormat.S3_LINES)
    assert result.records[0]["result"] == "Dropped"
    [line] = result.invalid
    assert line.problem == "malformed_envelope"
    assert reason in line.reason


def test_record_data_that_is_not_base64_is_dropped_and_kept_verbatim():
    rec = record(envelope(good_reading()))
    rec["data"] = "not*base64"
    result = transform_batch(event(rec), OutputFormat.S3_LINES)
    [line] = result.invalid
    assert "record data is not valid base64" in line.reason
    assert line.payload_base64 == "not*base64"
    assert line.thing_name is None


def test_envelope_fields_are_recovered_even_when_the_payload_is_bad():
    env = envelope(b"x")
    env["payload"] = "not base64!"
    result = transform_batch(event(record(env)), OutputFormat.S3_LINES)
    [line] = result.invalid
    assert (line.thing_name, line.arrival_ms, line.payload_base64) == (
        THING,
        ARRIVAL_MS,
        "not base64!",
    )


def test_unexpected_error_fails_only_that_record(monkeypatch):
    real = transform.validate_reading

    def flaky(reading, thing_name, *window):
        if reading["seq"] == 2:
            raise RuntimeError("boom")
        return real(reading, thing_name, *window)

    monkeypatch.setattr(transform, "validate_reading", flaky)
    records = [record(envelope(good_reading(seq=n)), f"r{n}") for n in (1, 2, 3)]
    result = transform_batch(event(*records), OutputFormat.S3_LINES)
    assert [r["result"] for r in result.records] == ["Ok", "ProcessingFailed", "Ok"]
    assert result.records[1]["data"] == records[1]["data"]
    assert result.failed == 1


def test_record_without_arrival_timestamp_is_processing_failed():
    rec = record(envelope(good_reading()))
    del rec["approximateArrivalTimestamp"]
    result = transform_batch(event(rec), OutputFormat.S3_LINES)
    assert result.records[0]["result"] == "ProcessingFailed"


def test_event_without_records_is_refused():
    with pytest.raises(ValueError, match="not a Firehose transformation event"):
        transform_batch({"invocationId": "x"}, OutputFormat.S3_LINES)
    with pytest.raises(ValueError, match="has no 'recordId'"):
        transform_batch({"records": [{"data": ""}]}, OutputFormat.S3_LINES)


def test_write_mode_puts_invalid_records_before_returning():
    s3 = RecordingS3()
    evt = event(record(envelope(b"{"), "bad"), record(envelope(good_reading()), "good"))
    result = process_event(evt, WRITE, lambda: s3)
    [put] = s3.puts
    assert put["Bucket"] == "data-bucket"
    assert put["Key"] == "errors/invalid/dt=2024-06-10/hour=06/inv-0001.jsonl"
    [line] = [json.loads(x) for x in put["Body"].decode().splitlines()]
    assert line["record_id"] == "bad"
    assert line["reason"].startswith("payload is not valid JSON")
    assert result.invalid_keys == [put["Key"]]


def test_a_failed_error_write_fails_only_the_invalid_records():
    """The good readings of the batch still reach raw/; the invalid ones go to Firehose's
    processing-failed output with their data, instead of failing the whole invocation."""
    s3 = RecordingS3(error=OSError("S3 unreachable"))
    records = [
        record(envelope(good_reading(seq=1)), "good-1"),
        record(envelope(b"{"), "bad"),
        record(envelope(good_reading(seq=2)), "good-2"),
    ]
    result = process_event(event(*records), WRITE, lambda: s3)
    assert [r["result"] for r in result.records] == ["Ok", "ProcessingFailed", "Ok"]
    assert result.records[1]["data"] == records[1]["data"]
    assert (result.ok, result.failed, result.write_failed) == (2, 1, 1)
    assert result.invalid_keys == []


def test_write_mode_without_invalid_records_does_not_touch_s3():
    result = process_event(event(record(envelope(good_reading()))), WRITE, no_s3)
    assert result.ok == 1


def test_drop_mode_never_writes():
    result = process_event(event(record(envelope(b"{"))), DROP, no_s3)
    assert result.records[0]["result"] == "Dropped"


def test_error_objects_are_split_by_arrival_hour_in_utc():
    records = [
        record(envelope(b"{"), "late", approx_ms=1_718_003_599_999),  # 07:13:19.999 -> hour 07
        record(envelope(b"{"), "next", approx_ms=1_718_006_400_000),  # 08:00:00.000 -> hour 08
        record(envelope(b"{"), "late2", approx_ms=1_718_003_000_000),
    ]
    result = transform_batch(event(*records), OutputFormat.S3_LINES)
    groups = group_by_key(result.invalid, "errors/invalid/", "inv")
    assert {k: [r.record_id for r in v] for k, v in groups.items()} == {
        "errors/invalid/dt=2024-06-10/hour=07/inv.jsonl": ["late", "late2"],
        "errors/invalid/dt=2024-06-10/hour=08/inv.jsonl": ["next"],
    }


def test_error_key_is_safe_for_odd_invocation_ids():
    key = error_key("errors/invalid/", 0, "../x/y z")
    assert key == "errors/invalid/dt=1970-01-01/hour=00/.._x_y_z.jsonl"


def test_settings_from_environment():
    settings = Settings.from_env(
        {"OUTPUT_FORMAT": "s3-lines", "INVALID_RECORDS": "write", "ERROR_BUCKET": "b"}
    )
    assert settings == Settings(OutputFormat.S3_LINES, InvalidRecords.WRITE, "b", "errors/invalid/")
    custom = Settings.from_env(
        {"OUTPUT_FORMAT": "search-documents", "INVALID_RECORDS": "drop", "ERROR_PREFIX": "e/x"}
    )
    assert custom.error_prefix == "e/x/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INVALID_RECORDS": "drop"}, "OUTPUT_FORMAT is not set"),
        ({"OUTPUT_FORMAT": "csv", "INVALID_RECORDS": "drop"}, "OUTPUT_FORMAT is 'csv'"),
        ({"OUTPUT_FORMAT": "s3-lines", "INVALID_RECORDS": "keep"}, "INVALID_RECORDS is 'keep'"),
        ({"OUTPUT_FORMAT": "s3-lines", "INVALID_RECORDS": "write"}, "ERROR_BUCKET must be set"),
        (
            {"OUTPUT_FORMAT": "s3-lines", "INVALID_RECORDS": "drop", "ERROR_PREFIX": "/x"},
            "must not start with '/'",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)
