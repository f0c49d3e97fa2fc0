"""Bad input from a real MQTT client: every message gets its documented outcome, the good readings
around it are untouched, and the pipeline keeps running.

Debian's `mosquitto_pub` (MQTT 5, QoS 1) holds the device certificate of `bad-input` from the
local CA and sends, one message per connection, to the stack's Basic Ingest topic
(`$aws/rules/<rule>/sensors/bad-input/telemetry`, as the device does), a good reading, then one
bad message, then a good one, and so on. Around that, the device publisher replays the Astro Pi
log as `bad-input` before and after (the pipeline keeps running), and another device,
`bad-input-bystander`, sends a good reading after each bad message: one device's bad input must
cost no other reading. Outcomes:

- refused at the broker (nothing arrives, nothing under errors/): a payload over IoT Core's
  128 KiB limit, a publish to another device's Basic Ingest topic, to another rule's, or to the
  plain topic `sensors/<thing>/telemetry` (the device policy allows only its own Basic Ingest
  topic), a certificate from another CA;
- everything else reaches the validator and is under errors/invalid/ with the reason (at most
  1,000 characters); nothing is under errors/processing-failed/.

Each good reading is in raw/ and search exactly as sent; with `make test-full` also in the
compacted table exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from faults_support import (
    IOT_CORE_MESSAGE_LIMIT,
    Pipeline,
    compacted_copies,
    invalid_of,
    payload_of,
    raw_readings_of,
    say,
    scenario_pipeline,
    search_documents,
    settle,
    wait_delivered,
    wait_for,
)

from localcloud.iot.ca import LocalCA
from localcloud.iot.resources import IotRules

pytestmark = pytest.mark.e2e

THING = "bad-input"
NEIGHBOUR = "bad-input-neighbour"  # another device: bad-input may not publish to its topic
BYSTANDER = "bad-input-bystander"  # another device publishing good readings in between
ROWS = 100  # readings replayed by the device publisher before and after the bad input
GOOD_SEQ = 9_000_000_000_000  # the test's own good readings, far above the device's seqs


def reading(number: int = 0, **changes: Any) -> dict[str, Any]:
    """The test's valid schema-1 reading `number` of THING (values from the Astro Pi log's first
    row), with `changes`."""
    base = {
        "schema": 1,
        "device_id": THING,
        "seq": GOOD_SEQ + number,
        "ts": f"2015-08-21T00:{number // 60:02d}:{number % 60:02d}.000Z",
        "temperature": 26.85,
        "humidity": 60.5,
        "pressure": 1021.76,
        "cpu_temp": 35.51,
        "pitch": 359.05,
        "roll": 359.86,
        "yaw": 258.99,
    }
    return {**base, **changes}


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def without(value: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in names}


def padded(size: int) -> bytes:
    """A reading with an extra `padding` field, exactly `size` bytes long."""
    head = encoded(reading(padding=""))[:-2]  # ends with `"padding": ` + the empty string's quote
    fill = size - len(head) - 2
    return head + b"x" * fill + b'"}'


@dataclass(frozen=True)
class Invalid:
    """A message the broker accepts and the validator rejects with `reason` (a part of it)."""

    id: str
    payload: bytes
    reason: str


INVALID = [
    Invalid(
        "malformed-json",
        b'{"schema": 1, "device_id": "bad-input", "seq": 7,',
        "payload is not valid JSON",
    ),
    Invalid("empty-message", b"", "payload is not valid JSON"),
    Invalid(
        "not-an-object", b"[26.85, 60.5, 1021.76]", "payload is a JSON array, not a JSON object"
    ),
    Invalid(
        "missing-fields",
        encoded(without(reading(), "temperature", "humidity")),
        "missing required field 'temperature'; missing required field 'humidity'",
    ),
    Invalid(
        "wrong-type-string",
        encoded(reading(temperature="26.85")),
        "field 'temperature': expected a number, got string \"26.85\"",
    ),
    Invalid(
        "wrong-type-boolean",
        encoded(reading(humidity=True)),
        "field 'humidity': expected a number, got boolean true",
    ),
    Invalid(
        "wrong-type-fractional-seq",
        encoded(reading(seq=7.5)),
        "field 'seq': expected an integer, got number 7.5",
    ),
    Invalid(
        "out-of-range-humidity",
        encoded(reading(humidity=150)),
        "field 'humidity': 150 is out of range (0 .. 100 %RH)",
    ),
    Invalid(
        "out-of-range-pressure",
        encoded(reading(pressure=5.0)),
        "field 'pressure': 5.0 is out of range (260 .. 1260 hPa)",
    ),
    Invalid(
        "not-a-number",
        encoded(reading()).replace(b'"temperature": 26.85', b'"temperature": NaN'),
        "payload is not valid JSON: NaN is not a JSON value",
    ),
    Invalid(
        "unsupported-schema",
        encoded(reading(schema=2)),
        "field 'schema': 2 is not a supported schema version (expected 1)",
    ),
    Invalid(
        "bad-timestamp",
        encoded(reading(ts="2015-08-21 00:00:00")),
        "field 'ts': \"2015-08-21 00:00:00\" is not UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ",
    ),
    Invalid(
        "unknown-field",
        encoded(reading(voltage=5.1)),
        'unknown field "voltage" (not in reading schema 1)',
    ),
    Invalid(
        "duplicate-field",
        encoded(reading()).replace(b'"seq"', b'"seq": 1, "seq"', 1),
        'field "seq" appears more than once in the payload',
    ),
    Invalid(
        "another-devices-reading",
        encoded(reading(device_id=NEIGHBOUR)),
        f'field \'device_id\': "{NEIGHBOUR}" is not the topic\'s thing name "{THING}"',
    ),
    Invalid(
        "not-utf-8",
        encoded(reading()).replace(b'"ts": "', b'"ts": "\xff\xfe'),
        "payload is not valid UTF-8: byte 0xff at offset",
    ),
    Invalid(
        "at-the-size-limit",  # the broker takes 128 KiB; the validator names the extra field
        padded(IOT_CORE_MESSAGE_LIMIT),
        'unknown field "padding" (not in reading schema 1)',
    ),
    Invalid(
        "lone-surrogate",  # used to make the validator raise and fail the whole batch
        encoded(reading(flags=["x"])).replace(b'"x"', b'"\\ud800"'),
        "field 'flags'[0]: \"\\ud800\" is not",
    ),
    Invalid(
        "nested-10000-deep",
        b"[" * 10_000 + b"]" * 10_000,
        "payload nests arrays and objects more than 16 levels deep",
    ),
    Invalid(
        "10000-keys",
        json.dumps({f"k{n}": n for n in range(10_000)}, separators=(",", ":")).encode(),
        "a JSON object in the payload has 10000 keys, more than the 64 allowed",
    ),
    Invalid(
        "huge-integer",
        encoded(reading(humidity=10**400)),
        "is out of range (0 .. 100 %RH)",
    ),
    Invalid(
        "clock-not-set",
        encoded(reading(ts="1970-01-01T00:00:05.000Z")),
        "is before 2015-01-01, the first date the tables cover (device clock not set?",
    ),
    Invalid(
        "far-future",
        encoded(reading(ts="9999-12-31T23:59:59.999Z")),
        "(device clock wrong?)",
    ),
]
OVERSIZED = padded(IOT_CORE_MESSAGE_LIMIT + 1)
FOREIGN = encoded(reading(1, device_id=NEIGHBOUR))  # differs from the invalid case
REFUSED = (
    "over-the-size-limit",
    "foreign-topic",
    "plain-topic",
    "another-rule",
    "certificate-from-another-ca",
)
# Valid readings with seqs no other message has: refused at the broker, they must arrive nowhere.
PLAIN = encoded(reading(seq=GOOD_SEQ + 500_000))
ANOTHER_RULE = encoded(reading(seq=GOOD_SEQ + 500_001))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with scenario_pipeline(tmp_path_factory, "bad-input") as running:
        yield running


@dataclass
class Sent:
    """What was sent, and what the pipeline holds once everything has arrived."""

    results: dict[str, Any]  # mosquitto_pub's CompletedProcess per case
    good: list[dict[str, Any]]  # the test's good readings, in the order sent
    bystander: list[dict[str, Any]]  # BYSTANDER's good readings, one after each bad message
    published: set[int]  # seqs the device publisher published (both runs)
    raw: dict[str, list[dict[str, Any]]]  # raw/ lines by device
    search: dict[str, list[dict[str, Any]]]  # search documents by device
    invalid: dict[str, list[dict[str, Any]]]  # errors/invalid/ lines by thing name
    error_keys: list[str]  # every key under errors/


@pytest.fixture(scope="module")
def sent(pipeline: Pipeline) -> Sent:
    credentials = pipeline.credentials(THING)
    bystander_credentials = pipeline.credentials(BYSTANDER)
    foreign_ca = LocalCA(pipeline.work / "another-ca").issue_device_certificate(THING)
    good: list[dict[str, Any]] = []
    bystander: list[dict[str, Any]] = []
    results: dict[str, Any] = {}

    topic = pipeline.telemetry_topic(THING)  # Basic Ingest: $aws/rules/<rule>/sensors/...

    def send(payload: bytes, topic: str = topic, creds: Any = credentials) -> Any:
        return pipeline.mosquitto_pub(creds, topic, payload, client_id=THING, ca=credentials.ca)

    def send_good() -> None:
        value = reading(len(good))
        result = send(encoded(value))
        assert (result.returncode, result.stderr) == (0, ""), result
        good.append(value)
        other = reading(len(bystander), device_id=BYSTANDER)
        result = pipeline.mosquitto_pub(
            bystander_credentials,
            pipeline.telemetry_topic(BYSTANDER),
            encoded(other),
            client_id=BYSTANDER,
        )
        assert (result.returncode, result.stderr) == (0, ""), result
        bystander.append(other)

    publisher = pipeline.publisher(THING, ROWS).start()
    publisher.finish()
    say("sending the bad input")
    send_good()
    for case in INVALID:
        results[case.id] = send(case.payload)
        send_good()
    results["over-the-size-limit"] = send(OVERSIZED)
    send_good()
    results["foreign-topic"] = send(FOREIGN, topic=pipeline.telemetry_topic(NEIGHBOUR))
    send_good()
    results["plain-topic"] = send(PLAIN, topic=f"sensors/{THING}/telemetry")
    send_good()
    another_rule = topic.replace("$aws/rules/", "$aws/rules/another_", 1)
    results["another-rule"] = send(ANOTHER_RULE, topic=another_rule)
    send_good()
    results["certificate-from-another-ca"] = send(encoded(reading()), creds=foreign_ca)
    send_good()
    publisher.start()  # the pipeline keeps running: a second run after all of it
    publisher.finish()

    say("waiting for delivery")
    published = settle(pipeline, publisher)
    wait_delivered(pipeline, THING, published | {r["seq"] for r in good})
    wait_delivered(pipeline, BYSTANDER, {r["seq"] for r in bystander})
    wanted = {case.payload for case in INVALID}
    wait_for(
        lambda: wanted <= {payload_of(r) for r in invalid_of(pipeline, THING)},
        120,
        "every invalid message under errors/invalid/",
        1,
    )
    say("everything arrived")
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=pipeline.names.bucket, Prefix="errors/"
    )
    devices = (THING, NEIGHBOUR, BYSTANDER)
    return Sent(
        results,
        good,
        bystander,
        published,
        raw={d: raw_readings_of(pipeline, d) for d in devices},
        search={d: search_documents(pipeline, d) for d in devices},
        invalid={d: invalid_of(pipeline, d) for d in devices},
        error_keys=[item["Key"] for page in pages for item in page.get("Contents", [])],
    )


@pytest.mark.parametrize("case", INVALID, ids=[case.id for case in INVALID])
def test_invalid_message_is_under_errors_invalid_with_its_reason(pipeline, sent, case):
    result = sent.results[case.id]
    assert (result.returncode, result.stderr) == (0, ""), "the broker must accept it"
    lines = [r for r in sent.invalid[THING] if payload_of(r) == case.payload]
    assert lines, f"{case.id} is not under errors/invalid/"
    for line in lines:
        assert case.reason in line["reason"], line["reason"]
        assert len(line["reason"]) <= 1000
        assert line["thing_name"] == THING
        assert isinstance(line["arrival_ms"], int)
        assert line["record_id"]


def test_payload_over_the_size_limit_is_refused_at_the_broker(pipeline, sent):
    # MQTT 5: PUBACK reason 0x95 "Packet too large" (mosquitto's message_size_limit, IoT Core's
    # 128 KiB); the message is not forwarded, so it is in no bucket.
    result = sent.results["over-the-size-limit"]
    assert result.returncode == 0
    assert "Publish 1 failed: Packet too large" in result.stderr
    assert OVERSIZED not in {payload_of(r) for r in sent.invalid[THING]}


def test_publish_to_another_devices_topic_is_refused_at_the_broker(pipeline, sent):
    # MQTT 5: PUBACK reason 0x87 "Not authorized" (the ACL mirrors the IoT policy); IoT Core
    # would also close the connection. Nothing reaches the rule, so nothing is in errors/ either.
    result = sent.results["foreign-topic"]
    assert result.returncode == 0
    assert "Publish 1 failed: Not authorized" in result.stderr
    assert sent.raw[NEIGHBOUR] == []
    assert sent.search[NEIGHBOUR] == []
    assert sent.invalid[NEIGHBOUR] == []
    assert FOREIGN not in {payload_of(r) for r in sent.invalid[THING]}


def test_publish_to_the_plain_topic_or_another_rules_basic_ingest_is_refused(pipeline, sent):
    """The device policy allows exactly the own thing's Basic Ingest topic of this stack's rule:
    the plain topic (which IoT Core would bill as messaging) and another rule's Basic Ingest
    topic are refused at the broker (PUBACK 0x87), so neither reaches the rule."""
    for case in ("plain-topic", "another-rule"):
        result = sent.results[case]
        assert result.returncode == 0
        assert "Publish 1 failed: Not authorized" in result.stderr, case
    refused = {json.loads(PLAIN)["seq"], json.loads(ANOTHER_RULE)["seq"]}
    for stored in (sent.raw[THING], sent.search[THING]):
        assert refused.isdisjoint(r["seq"] for r in stored)
    assert {PLAIN, ANOTHER_RULE}.isdisjoint(payload_of(r) for r in sent.invalid[THING])


def test_readings_sent_through_basic_ingest_arrive_in_raw_with_the_things_name(pipeline, sent):
    """The rule sees the topic without `$aws/rules/<rule>`, so `topic(2)` is the thing: every
    good reading sent to the Basic Ingest topic is in raw/ with thing_name = its device_id."""
    topic = pipeline.telemetry_topic(THING)
    assert topic == f"$aws/rules/sensor_pipeline_telemetry/sensors/{THING}/telemetry"
    raw = {r["seq"]: r for r in sent.raw[THING] if r["seq"] >= GOOD_SEQ}
    assert sorted(raw) == [r["seq"] for r in sent.good]
    assert {(r["device_id"], r["thing_name"]) for r in raw.values()} == {(THING, THING)}


def test_a_certificate_not_attached_to_a_thing_may_do_nothing(pipeline, sent):
    """The device policy connects only certificates attached to a thing of the registry
    (`iot:Connection.Thing.IsAttached`). IoT Core refuses the connection; the local broker,
    which cannot refuse a certificate by name, refuses its every publish (PUBACK 0x87)."""
    stranger = "not-a-registered-thing"
    credentials = pipeline.credentials(stranger)  # issued by the CA, attached to no thing
    result = pipeline.mosquitto_pub(
        credentials,
        pipeline.telemetry_topic(stranger),
        encoded(reading(device_id=stranger)),
        client_id=stranger,
    )
    assert result.returncode == 0
    assert "Publish 1 failed: Not authorized" in result.stderr
    assert raw_readings_of(pipeline, stranger) == []
    assert invalid_of(pipeline, stranger) == []


def test_certificate_from_another_ca_is_refused_in_the_tls_handshake(pipeline, sent):
    result = sent.results["certificate-from-another-ca"]
    assert result.returncode != 0, result
    assert "certificate verify failed" in pipeline.broker_log()


def test_nothing_else_is_under_errors(pipeline, sent):
    """Only the invalid messages were rejected, and no action or delivery failed (no
    errors/iot-rule/, no processing-failed or search errors)."""
    rejected = {payload_of(r) for r in sent.invalid[THING]}
    assert rejected == {case.payload for case in INVALID}
    keys = sent.error_keys
    assert keys and all(key.startswith("errors/invalid/") for key in keys), keys


def test_good_readings_around_bad_input_are_untouched(pipeline, sent):
    """Each good reading sent between the bad messages is in raw/ and in search with exactly
    the values sent (plus what the rule adds: the thing name and arrival time)."""
    raw = {r["seq"]: dict(r) for r in sent.raw[THING] if r["seq"] >= GOOD_SEQ}
    docs = {d["seq"]: dict(d) for d in sent.search[THING] if d["seq"] >= GOOD_SEQ}
    assert sorted(raw) == sorted(docs) == [r["seq"] for r in sent.good]
    for value in sent.good:
        for stored in (raw[value["seq"]], docs[value["seq"]]):
            assert stored.pop("thing_name") == THING
            assert isinstance(stored.pop("arrival_ms"), int)
            assert stored == value


def test_another_devices_readings_between_the_bad_messages_are_untouched(pipeline, sent):
    """The bystander's good readings, each sent right after a bad message of bad-input, are in
    raw/ and search exactly once and as sent, and none of them is under errors/."""
    assert sent.invalid[BYSTANDER] == []
    for stored in (sent.raw[BYSTANDER], sent.search[BYSTANDER]):
        values = sorted(
            ({k: v for k, v in r.items() if k not in {"thing_name", "arrival_ms"}} for r in stored),
            key=lambda r: r["seq"],
        )
        assert values == sent.bystander


def test_the_pipeline_keeps_running(pipeline, sent):
    """The device's readings before and after the bad input all arrived in raw/ and search."""
    raw = Counter(r["seq"] for r in sent.raw[THING] if r["seq"] < GOOD_SEQ)
    assert set(raw) == sent.published
    assert len(sent.published) == 2 * ROWS
    assert {d["seq"] for d in sent.search[THING]} >= sent.published
    engine = pipeline.cloud.service(IotRules).engine
    assert engine is not None
    assert engine.stats.action_failures == 0


@pytest.mark.slow
def test_good_readings_are_compacted_exactly_once(pipeline, sent):
    good = sent.published | {r["seq"] for r in sent.good}
    pipeline.wait_compacted(THING, len(good))
    copies = compacted_copies(pipeline, THING)
    assert set(copies) == good
    assert set(copies.values()) == {1}
    pipeline.wait_compacted(BYSTANDER, len(sent.bystander))
    others = compacted_copies(pipeline, BYSTANDER)
    assert set(others) == {r["seq"] for r in sent.bystander}
    assert set(others.values()) == {1}
