"""What the fault and bad-input suites share.

- `synthesized(...)`: the CDK app synthesized once per context (the demo's short buffers and
  one-minute compaction tail, plus one IoT thing per scenario), reused by every module asking for
  the same context.
- `Pipeline`: one running local cloud per test module, with the names the tests need (found in
  the deployment, never typed twice) and the clients they use: the device publisher as a
  subprocess that can be SIGKILLed (`Publisher`), `mosquitto_pub` from Debian holding a device
  certificate (`Pipeline.mosquitto_pub`).
- `Account`: where every reading of one device is: raw/ (at least once), the compacted table
  (exactly once), the search indices (exactly once in each hourly index it was delivered to:
  documents are keyed by (device_id, seq), so a repeat overwrites itself; a repeat that Firehose
  delivered in another arrival hour is a second document in that hour's index, counted and
  printed), errors/invalid/.

Each scenario publishes as its own device, so scenarios that share a cloud are accounted for
separately. Every wait is bounded and fails with what it saw.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from demo.accounting import athena_query, invalid_records, json_lines
from demo.run import COMPACT_PENDING, DEMO_CONTEXT, publisher_env, replay_file, telemetry_topic
from device.reading import format_ts
from device.sources.replay import parse_time
from device.spool import SpoolError
from device.status import status_report
from localcloud.cloud import SERVICES, STACK, LocalCloud
from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.core.registry import CloudService
from localcloud.iot.ca import DeviceCredentials
from localcloud.iot.resources import IotCore
from localcloud.lambda_.resources import LambdaFunctions
from localcloud.lambda_.sources import scheduled_event
from localcloud.opensearch.access import basic_auth
from tests.conftest import synthesize

ROOT = Path(__file__).resolve().parents[2]
# One IoT thing per scenario (each may publish only to its own topic).
DEVICES = (
    "sensehat-01",
    "fault-broker",
    "fault-publisher",
    "fault-rules",
    "fault-firehose",
    "fault-compactor",
    "fault-athena",
    "fault-crash",
    "bad-input",
    "bad-input-neighbour",
    "bad-input-bystander",
)
IOT_CORE_MESSAGE_LIMIT = 128 * 1024
SEARCH_PAGE = 10_000  # the emulated OpenSearch's (and OpenSearch's) max_result_window

_synthesized: dict[str, Path] = {}


def fault_context(**overrides: Any) -> dict[str, Any]:
    """The demo's context (1 s buffers, a one-minute compaction tail) with the scenario things."""
    return {**DEMO_CONTEXT, "deviceNames": list(DEVICES), **overrides}


def synthesized(directory: Path, context: dict[str, Any]) -> Path:
    """The app synthesized with cdk.json's context and `context` into a cdk.out folder, once
    per context per session: in this process, as app.py builds it and as `cdk synth` writes it
    (with the asset metadata the CLI asks for, which the local cloud reads)."""
    key = json.dumps(context, sort_keys=True)
    if key not in _synthesized:
        _synthesized[key] = synthesize(directory / f"cdk.out-{len(_synthesized)}", **context)
    return _synthesized[key]


@contextmanager
def local_cloud(
    state_dir: Path, cdk_out: Path, services: Sequence[type[CloudService]] = SERVICES
) -> Iterator[LocalCloud]:
    """The local cloud of `cdk_out` in `state_dir`, for the caller to start; afterwards it is
    stopped and the process environment is restored (LocalCloud points boto3 at itself through
    os.environ)."""
    saved = dict(os.environ)
    cloud = LocalCloud(state_dir, cdk_out, STACK, log=say, services=services)
    try:
        yield cloud
    finally:
        cloud.stop()
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def scenario_pipeline(
    tmp_path_factory: pytest.TempPathFactory, name: str, **context: Any
) -> Iterator[Pipeline]:
    """The pipeline of fault_context(**context) running in a new folder `name` (a test module's
    `pipeline` fixture)."""
    cdk_out = synthesized(tmp_path_factory.getbasetemp(), fault_context(**context))
    with Pipeline.running(tmp_path_factory.mktemp(name), cdk_out) as running:
        yield running


def say(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.5,
    state: Callable[[], Any] | None = None,
) -> None:
    """Poll `condition` until it holds; after `timeout` seconds fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            seen = f"; last seen: {state()}" if state is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s{seen}")
        time.sleep(interval)


# --- the running pipeline ----------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """What the tests read and drive, from the deployment."""

    bucket: str
    database: str
    table: str
    workgroup: str
    raw_stream: str
    search_stream: str
    index_pattern: str
    compactor_arn: str
    compactor_env: dict[str, str]
    schedule_rule_arn: str


def deployed_names(cloud: LocalCloud) -> Names:
    deployment = cloud.deployment
    assert deployment is not None
    compactor_id, compactor = next(
        (logical_id, props)
        for logical_id, props in deployment.runtime["AWS::Lambda::Function"].items()
        if props["Handler"] == "compactor.handler.lambda_handler"
    )
    compactor_arn = deployment.attribute(compactor_id, "Arn")
    env = dict(compactor["Environment"]["Variables"])
    streams = deployment.runtime["AWS::KinesisFirehose::DeliveryStream"].values()
    raw = next(p for p in streams if "ExtendedS3DestinationConfiguration" in p)
    search = next(p for p in streams if "AmazonopensearchserviceDestinationConfiguration" in p)
    index = search["AmazonopensearchserviceDestinationConfiguration"]["IndexName"]
    rule = next(
        logical_id
        for logical_id, props in deployment.runtime["AWS::Events::Rule"].items()
        if any(target["Arn"] == compactor_arn for target in props.get("Targets", []))
    )
    return Names(
        bucket=env["DATA_BUCKET"],
        database=env["GLUE_DATABASE"],
        table=env["COMPACTED_TABLE"],
        workgroup=env["ATHENA_WORKGROUP"],
        raw_stream=raw["DeliveryStreamName"],
        search_stream=search["DeliveryStreamName"],
        index_pattern=f"{index}-*",
        compactor_arn=compactor_arn,
        compactor_env=env,
        schedule_rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{deployment.refs[rule]}",
    )


@dataclass
class Pipeline:
    """A running local cloud and what the scenarios need from it."""

    cloud: LocalCloud
    work: Path
    names: Names
    publishers: list[Publisher] = field(default_factory=list)

    @classmethod
    @contextmanager
    def running(cls, work: Path, cdk_out: Path) -> Iterator[Pipeline]:
        """The local cloud for one test module; afterwards no publisher is left running and the
        process environment is restored (see local_cloud)."""
        with local_cloud(work / "cloud", cdk_out) as cloud:
            pipeline: Pipeline | None = None
            try:
                cloud.start()
                pipeline = cls(cloud, work, deployed_names(cloud))
                yield pipeline
            finally:
                for publisher in pipeline.publishers if pipeline else []:
                    publisher.stop()

    # --- devices ---

    def replay(self, rows: int) -> Path:
        """The first `rows` rows of the Astro Pi log as a replay file."""
        directory = self.work / "replay"
        directory.mkdir(exist_ok=True)
        path, count = replay_file(rows, directory)
        assert count == rows
        return path

    def publisher(self, thing: str, rows: int, rate: float = 0, **env: str) -> Publisher:
        """The device publisher (`python -m device publish`) replaying `rows` rows as `thing`,
        with its own spool; `rate` readings per second (0: as fast as the broker takes them)."""
        publisher = Publisher(self, thing, self.replay(rows), rate, env)
        self.publishers.append(publisher)
        return publisher

    def credentials(self, thing: str) -> DeviceCredentials:
        return self.cloud.service(IotCore).credentials(thing)

    def telemetry_topic(self, thing: str) -> str:
        """Where `thing` publishes its readings: the stack's Basic Ingest topic for it."""
        return telemetry_topic(self.cloud).format(thing=thing)

    def mosquitto_pub(
        self,
        credentials: DeviceCredentials,
        topic: str,
        payload: bytes,
        *,
        client_id: str,
        ca: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Publish one message, QoS 1, MQTT 5, mutual TLS, with Debian's mosquitto_pub.
        mosquitto_pub exits 0 also when the broker refuses the publish in its PUBACK; it then
        prints `Warning: Publish 1 failed: <reason>`."""
        endpoints = self.cloud.env()
        message = self.work / "message.bin"
        message.write_bytes(payload)
        body = ["-f", str(message)] if payload else ["-n"]  # -f refuses an empty file
        command = [
            "mosquitto_pub",
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-h",
            endpoints["MQTT_HOST"],
            "-p",
            endpoints["MQTT_PORT"],
            "--cafile",
            str(ca or credentials.ca),
            "--cert",
            str(credentials.certificate),
            "--key",
            str(credentials.private_key),
            "-i",
            client_id,
            "-t",
            topic,
            *body,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    # --- compaction ---

    def fire_compactor_schedule(self) -> None:
        """Send the compactor the event its EventBridge schedule sends (asynchronously, as
        EventBridge invokes), instead of waiting up to a minute for the next tick."""
        function = self.cloud.service(LambdaFunctions).function(self.names.compactor_arn)
        function.invoke_async(scheduled_event(self.names.schedule_rule_arn))

    def compact_pending_now(self) -> None:
        """Ask the compactor to compact every pending object whatever its age (an operator's
        "compact now"), asynchronously as the schedule's events are sent."""
        function = self.cloud.service(LambdaFunctions).function(self.names.compactor_arn)
        function.invoke_async(COMPACT_PENDING)

    def wait_compacted(
        self, device: str, expected: int, timeout: float = 300, *, tail: bool = True
    ) -> None:
        """Wait until the compacted table holds `expected` distinct readings of `device`,
        every few seconds firing the compactor's schedule, so the tail is claimed when due
        (`tail`), or asking it to compact what is pending now (not `tail`: the scenario is not
        about the tail, and waits for no clock)."""
        seen: dict[str, int] = {}
        last_fired = 0.0
        fire = self.fire_compactor_schedule if tail else self.compact_pending_now

        def compacted() -> bool:
            nonlocal last_fired
            if time.monotonic() - last_fired > 5:
                fire()
                last_fired = time.monotonic()
            seen["distinct"] = len(compacted_copies(self, device))
            return seen["distinct"] >= expected

        wait_for(compacted, timeout, f"{expected} readings of {device} compacted", 1, lambda: seen)

    def broker_log(self) -> str:
        broker = self.cloud.service(IotCore).broker
        assert broker is not None
        return broker.log_path.read_text(errors="replace")


class Publisher:
    """`python -m device publish` as a subprocess: the device's own code, its own spool."""

    def __init__(
        self, pipeline: Pipeline, thing: str, replay: Path, rate: float, env: dict[str, str]
    ) -> None:
        self.thing = thing
        self.spool = pipeline.work / f"spool-{thing}.db"
        self.log = pipeline.work / f"publisher-{thing}.log"
        self.replay = replay
        self.env = {
            **publisher_env(pipeline.cloud, thing, replay, self.spool),
            "DEVICE_PUBLISH_RATE_PER_SECOND": str(rate),
            # Reconnect quickly after an outage (the default backs off up to two minutes).
            "DEVICE_MQTT_MIN_RECONNECT_DELAY_MS": "200",
            "DEVICE_MQTT_MAX_RECONNECT_DELAY_MS": "2000",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> Publisher:
        """Start a run (again after a kill: the same spool, so nothing sampled is forgotten)."""
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "device", "publish"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.runs += 1
        return self

    def status(self) -> dict[str, Any]:
        """The spool's report, as `python -m device status --json` prints it. A spool the
        publisher has not finished creating (the file exists, its tables not yet) is empty."""
        try:
            return status_report(self.spool)
        except SpoolError:
            return {"pubacks": 0, "backlog": 0, "next_seq": {}}

    def pubacks(self) -> int:
        return int(self.status()["pubacks"])

    def wait_pubacks(self, count: int, timeout: float = 60) -> None:
        wait_for(
            lambda: self.pubacks() >= count,
            timeout,
            f"{self.thing}: {count} PUBACKs",
            0.1,
            self.status,
        )

    def ended(self) -> bool:
        """Whether the current run has ended (it ends by itself after the replay)."""
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last PUBACK handling."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 180) -> int:
        """Wait for the run to end; it ends by itself once the replay is published."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"{self.thing}: the publisher did not finish within {timeout} s; "
                f"log:\n{self.log.read_text(errors='replace')[-3000:]}"
            ) from None

    def finish(self, timeout: float = 180) -> None:
        """Wait for a clean end with nothing left in the spool."""
        code = self.wait(timeout)
        assert code == 0, self.log.read_text(errors="replace")[-3000:]
        assert self.status()["backlog"] == 0

    def next_seq(self) -> int:
        return int(self.status()["next_seq"][self.thing])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def first_ts(self) -> str:
        """The `ts` of the replay's first row, as the device writes it: the first reading of a
        fresh spool (the lowest seq) must carry it."""
        with self.replay.open(newline="", encoding="utf-8") as source:
            first = next(csv.DictReader(source))
        return format_ts(parse_time(first["time_stamp"], "%Y-%m-%d %H:%M:%S", dt.UTC))


# --- accounting --------------------------------------------------------------------------------


def raw_readings_of(pipeline: Pipeline, device: str) -> list[dict[str, Any]]:
    """Every line of every raw object that is a reading of `device` (repeats included)."""
    readings = json_lines(pipeline.names.bucket, "raw/")
    return [reading for reading in readings if reading.get("device_id") == device]


def compacted_copies(pipeline: Pipeline, device: str) -> Counter[int]:
    """Rows per seq of `device` in the compacted table, through the Athena API."""
    names = pipeline.names
    rows = athena_query(
        f"SELECT seq, count(*) AS copies FROM {names.table} "
        f"WHERE device_id = '{device}' GROUP BY seq",
        names.database,
        names.workgroup,
    )
    return Counter({int(seq): int(copies) for seq, copies in rows[1:]})


def search_documents(pipeline: Pipeline, device: str) -> list[dict[str, Any]]:
    """The documents of `device` in the rotated search indices (one per index it is in)."""
    return [hit["_source"] for hit in search_hits(pipeline, device)]


def search_hits(pipeline: Pipeline, device: str) -> list[dict[str, Any]]:
    """The search hits (`_index`, `_id`, `_source`) of `device`'s documents."""
    query = {"size": SEARCH_PAGE, "query": {"term": {"device_id": device}}}
    env = pipeline.cloud.env()
    url = f"{env['OPENSEARCH_URL']}/{pipeline.names.index_pattern}/_search"
    request = urllib.request.Request(  # noqa: S310 - the local emulated endpoint
        url,
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json", **basic_auth(env)},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        hits = json.loads(response.read())["hits"]["hits"]
    assert len(hits) < SEARCH_PAGE, "more documents than one page; the test needs paging"
    return list(hits)


def invalid_of(pipeline: Pipeline, thing: str) -> list[dict[str, Any]]:
    """The validator's lines under errors/invalid/ for messages on `thing`'s topic."""
    return [r for r in invalid_records(pipeline.names.bucket) if r.get("thing_name") == thing]


def payload_of(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["payload_base64"])


@dataclass
class Account:
    """Where every reading of one device is. `expected` are the seqs the device published."""

    device: str
    expected: set[int]
    raw: Counter[int] = field(default_factory=Counter)
    compacted: Counter[int] = field(default_factory=Counter)
    search: Counter[int] = field(default_factory=Counter)  # documents per seq, all indices
    search_by_index: Counter[tuple[str, int]] = field(default_factory=Counter)
    invalid: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, pipeline: Pipeline, device: str, expected: set[int]) -> Account:
        hits = search_hits(pipeline, device)
        return cls(
            device,
            expected,
            raw=Counter(int(r["seq"]) for r in raw_readings_of(pipeline, device)),
            compacted=compacted_copies(pipeline, device),
            search=Counter(int(hit["_source"]["seq"]) for hit in hits),
            search_by_index=Counter((hit["_index"], int(hit["_source"]["seq"])) for hit in hits),
            invalid=invalid_of(pipeline, device),
        )

    @staticmethod
    def repeats(counts: Counter[int]) -> int:
        return sum(counts.values()) - len(counts)

    def line(self) -> str:
        lost = len(self.expected - set(self.compacted))
        return (
            f"ACCOUNT {self.device}: published={len(self.expected)} raw={len(self.raw)} "
            f"(repeats {self.repeats(self.raw)}) compacted={len(self.compacted)} "
            f"(duplicates {self.repeats(self.compacted)}) search={len(self.search)} "
            f"(repeats in other hourly indices {self.repeats(self.search)}) "
            f"invalid={len(self.invalid)} lost={lost}"
        )

    def assert_complete(self) -> None:
        """Every reading published: in raw/ at least once, in the compacted table exactly
        once, in search exactly once per hourly index it was delivered to (so exactly once
        unless Firehose delivered it again in another hour); nothing else of the device
        anywhere, none invalid."""
        say(self.line())
        assert set(self.raw) == self.expected, _difference("raw/", self.raw, self.expected)
        assert set(self.compacted) == self.expected, _difference(
            "the compacted table", self.compacted, self.expected
        )
        duplicated = {seq: n for seq, n in self.compacted.items() if n != 1}
        assert not duplicated, f"readings compacted more than once: {sorted(duplicated)[:20]}"
        assert set(self.search) == self.expected, _difference("search", self.search, self.expected)
        twice = sorted((index, seq) for (index, seq), n in self.search_by_index.items() if n > 1)
        assert not twice, f"readings with more than one document in one index: {twice[:10]}"
        assert self.invalid == [], self.invalid[:3]


def _difference(where: str, found: Counter[int], expected: set[int]) -> str:
    missing = sorted(expected - set(found))
    extra = sorted(set(found) - expected)
    return f"{where}: {len(missing)} missing {missing[:10]}, {len(extra)} unexpected {extra[:10]}"


def published_by(publisher: Publisher, pipeline: Pipeline) -> set[int]:
    """The seqs the device assigned: from its first reading (the lowest seq found anywhere,
    checked to be the replay's first row) up to the spool's next seq."""
    found = raw_readings_of(pipeline, publisher.thing)
    assert found, f"no reading of {publisher.thing} in raw/"
    first = min(found, key=lambda r: int(r["seq"]))
    assert first["ts"] == publisher.first_ts(), (
        f"the lowest seq in raw/ is not the device's first reading: {first}"
    )
    return set(range(int(first["seq"]), publisher.next_seq()))


def settle(pipeline: Pipeline, publisher: Publisher, timeout: float = 120) -> set[int]:
    """After the publisher's last run: wait until its last reading is in raw/, then until
    everything it published is in raw/ and search; return the seqs it published."""
    last = publisher.next_seq() - 1
    wait_for(
        lambda: any(int(r["seq"]) == last for r in raw_readings_of(pipeline, publisher.thing)),
        timeout,
        f"the last reading of {publisher.thing} in raw/",
        1,
    )
    expected = published_by(publisher, pipeline)
    wait_delivered(pipeline, publisher.thing, expected, timeout)
    return expected


def wait_delivered(
    pipeline: Pipeline, device: str, expected: set[int], timeout: float = 120
) -> None:
    """Wait until raw/ and search hold every expected reading of `device` at least once."""
    seen: dict[str, int] = {}

    def delivered() -> bool:
        raw = {int(r["seq"]) for r in raw_readings_of(pipeline, device)}
        search = {int(d["seq"]) for d in search_documents(pipeline, device)}
        seen.update(raw=len(raw & expected), search=len(search & expected))
        return expected <= raw and expected <= search

    wait_for(delivered, timeout, f"{len(expected)} readings of {device} delivered", 1, lambda: seen)
