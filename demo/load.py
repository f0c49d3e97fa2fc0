"""`python -m localcloud load --devices N --rate-hz R --minutes M` (`make load`): a fleet's load
through the whole local pipeline, accounted for.

It synthesizes the app with the demo's short buffers and one-minute compaction tail and one IoT
thing per device (`load-001` ...), starts the local cloud, and runs N devices in one process
(`demo.fleet`): each the real publisher with its own certificate, MQTT connection and spool,
sampling the `synthetic` source R times a second for M minutes; 50 devices a process at
most, and no more processes than cores. The spools are the real SQLite spools in the state
folder; with `--spools-in-memory` in a new folder of `/dev/shm` (where there is one): a Pi syncs
its own SD card, and a hundred simulated devices syncing one shared disk measure that disk as
much as the pipeline. Spools in memory are removed after a run that lost and duplicated
nothing; after any other run they are kept, and their path is printed. Before the LOAD line it
prints the CPU time of each part of the pipeline (`demo.cpu`). While they run and until every
reading is in raw/, in search and compacted it prints a progress line every 5 s; then one line:

    LOAD devices=<n> sent=<n> raw=<n> compacted=<n> search=<n> lost=<n> duplicates=<n>
         readings_per_s=<x> p95_publish_to_raw_ms=<y>

`sent` counts PUBACKs, `raw`/`compacted`/`search` distinct `(device_id, seq)` as the demo
counts them; `lost` is what is missing from the compacted table or from search;
`readings_per_s` is `sent` over the time from the first reading to the last one in raw/;
`p95_publish_to_raw_ms` is the 95th percentile of a raw object's `LastModified` (one-second
resolution) minus its readings' `ts`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from demo.accounting import compacted_tally, json_lines_with_time, search_tally
from demo.cpu import CpuMeter
from demo.run import DEMO_CONTEXT, ROOT, Demo, synthesize, telemetry_topic
from device.spool import SpoolError
from device.status import status_report
from localcloud.cloud import STACK, LocalCloud
from localcloud.firehose.resources import Firehose
from localcloud.iot.resources import IotCore, IotRules

DEVICES_PER_PROCESS = 50
MEMORY_FOLDER = Path("/dev/shm")  # noqa: S108 (tmpfs on Linux; mkdtemp makes a private folder)


def device_names(devices: int) -> list[str]:
    return [f"load-{i:03d}" for i in range(1, devices + 1)]


class Load(Demo):
    def __init__(
        self,
        state_dir: Path,
        devices: int,
        rate_hz: float,
        minutes: float,
        spools_in_memory: bool = False,
    ) -> None:
        super().__init__(state_dir, state_dir / "out")
        self.devices = device_names(devices)
        self.rate_hz = rate_hz
        self.count = max(1, math.ceil(rate_hz * minutes * 60))
        self.spools = spool_folder(state_dir, spools_in_memory)

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cdk_out = self.state_dir / "cdk.out"
        context = {**DEMO_CONTEXT, "deviceNames": ",".join(self.devices)}
        say(f"synthesizing with {len(self.devices)} things into {cdk_out} (about a minute)")
        synthesize(cdk_out, context)
        self.cloud = LocalCloud(self.state_dir / "cloud", cdk_out, STACK, log=say)
        self.cloud.start()

    def fleet_files(self, processes: int) -> list[Path]:
        """The devices' settings, split over `processes` files, one per fleet process."""
        devices = self.fleet_settings()
        paths = []
        for number in range(processes):
            path = self.state_dir / f"fleet-{number + 1}.json"
            path.write_text(json.dumps(devices[number::processes], indent=1), encoding="utf-8")
            paths.append(path)
        return paths

    def fleet_settings(self) -> list[dict[str, str]]:
        assert self.cloud is not None
        iot, endpoints = self.cloud.service(IotCore), self.cloud.env()
        topic = telemetry_topic(self.cloud)  # the stack's Basic Ingest topic
        devices = []
        for number, thing in enumerate(self.devices, start=1):
            credentials = iot.credentials(thing)
            devices.append(
                {
                    "DEVICE_THING_NAME": thing,
                    "DEVICE_SOURCE": "synthetic",
                    "DEVICE_LED": "false",
                    "DEVICE_LOG_LEVEL": "WARNING",
                    "DEVICE_MQTT_ENDPOINT": endpoints["MQTT_HOST"],
                    "DEVICE_MQTT_PORT": endpoints["MQTT_PORT"],
                    "DEVICE_MQTT_CERTIFICATE": str(credentials.certificate),
                    "DEVICE_MQTT_PRIVATE_KEY": str(credentials.private_key),
                    "DEVICE_MQTT_CA": str(credentials.ca),
                    "DEVICE_MQTT_TOPIC": topic,
                    "DEVICE_MQTT_IOT_CORE_FLOW_CONTROL": "false",
                    "DEVICE_PUBLISH_RATE_PER_SECOND": "0",
                    "DEVICE_SPOOL_PATH": str(self.spool(thing)),
                    # A Pi syncs its own SD card on every insert; a hundred simulated devices
                    # sharing one disk would measure that disk, not the pipeline.
                    "DEVICE_SPOOL_SYNCHRONOUS": "normal",
                    "DEVICE_SYNTHETIC_INTERVAL_SECONDS": str(1 / self.rate_hz),
                    "DEVICE_SYNTHETIC_COUNT": str(self.count),
                    "DEVICE_SYNTHETIC_SPEED": "1",
                    "DEVICE_SYNTHETIC_SEED": str(number),
                }
            )
        return devices

    def spool(self, thing: str) -> Path:
        return self.spools / f"{thing}.db"

    def sent(self) -> int:
        total = 0
        for thing in self.devices:
            try:
                total += int(status_report(self.spool(thing)).get("pubacks", 0))
            except SpoolError:
                continue  # not created yet
        return total

    def delivered(self, stream: str) -> int:
        assert self.cloud is not None
        workers = self.cloud.service(Firehose).workers.values()
        return sum(w.counters.records_delivered for w in workers if w.config.name == stream)

    def read(self, stream: str) -> int:
        """Records the delivery stream's workers have read from Kinesis."""
        assert self.cloud is not None
        workers = self.cloud.service(Firehose).workers.values()
        return sum(w.counters.records_in for w in workers if w.config.name == stream)

    def engine_received(self) -> int:
        """Messages the topic rule engine has received from the broker."""
        assert self.cloud is not None
        engine = self.cloud.service(IotRules).engine
        return engine.stats.received if engine is not None else 0

    def run_fleet(self, timeout: float) -> str:
        assert self.cloud is not None
        names = self._names()
        expected = self.count * len(self.devices)
        self.spools.mkdir(parents=True, exist_ok=True)
        say(
            f"{len(self.devices)} devices x {self.rate_hz:g} Hz x {self.count} readings = "
            f"{expected} readings, each device its own certificate, connection and spool "
            f"(spools in {self.spools})"
        )
        # A process holds at most DEVICES_PER_PROCESS publishers (their threads share one
        # interpreter lock), and there are never more processes than cores.
        wanted = math.ceil(len(self.devices) / DEVICES_PER_PROCESS)
        processes = max(1, min(os.cpu_count() or 1, wanted))
        fleet = [
            subprocess.Popen(
                [sys.executable, "-m", "demo.fleet", str(path)],
                cwd=ROOT,
                stdout=(self.state_dir / f"{path.stem}.log").open("wb"),
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for path in self.fleet_files(processes)
        ]
        deadline = time.monotonic() + timeout
        compacted, last_query = 0, 0.0
        cpu = CpuMeter()
        try:
            while time.monotonic() < deadline:
                cpu.sample()
                sent = self.sent()
                raw = self.delivered(names["raw_stream"])
                search = self.delivered(names["search_stream"])
                if not publishing(fleet) and raw >= sent and time.monotonic() - last_query > 15:
                    tally = compacted_tally(names["database"], names["table"], names["workgroup"])
                    compacted, last_query = tally.unique, time.monotonic()
                if publishing(fleet):
                    state = "publishing"
                elif raw < sent or search < sent:
                    state = "waiting for Firehose delivery to S3 and OpenSearch"
                else:
                    state = "waiting for the compaction tail"
                say(
                    f"sent {sent}/{expected}  raw {raw}  search {search}  compacted {compacted}  "
                    f"backlog {sent - raw} (rule engine {self.engine_received()}, raw read "
                    f"{self.read(names['raw_stream'])})  ({state})"
                )
                if not publishing(fleet) and compacted >= sent and search >= sent:
                    break
                time.sleep(5)
            else:
                say("timed out; accounting for what arrived")
        finally:
            for process in fleet:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=60)
        if any(process.returncode != 0 for process in fleet):
            raise RuntimeError(f"the fleet failed; see {self.state_dir}/fleet-*.log")
        sent = self.sent()
        self.report_engine(sent)
        for line in cpu.report(sent):
            say(line)
        return self.account(names, sent)

    def report_engine(self, sent: int) -> None:
        """What the topic rule engine received for the readings sent: a message the broker
        delivered again (after a dropped connection) is put into Kinesis twice."""
        assert self.cloud is not None
        engine = self.cloud.service(IotRules).engine
        if engine is None:
            return
        stats = engine.stats
        say(
            f"rule engine: received {stats.received} messages for {sent} readings sent "
            f"({stats.received - sent} delivered again), acknowledged {stats.acknowledged}"
        )

    def account(self, names: dict[str, str], sent: int) -> str:
        assert self.cloud is not None
        raw, first, last, latencies = raw_with_latency(names["bucket"])
        compacted = compacted_tally(names["database"], names["table"], names["workgroup"])
        search = search_tally(self.cloud.env(), names["index_pattern"])
        seconds = max((last - first).total_seconds(), 1e-9) if raw else 0.0
        rate = sent / seconds if seconds else 0.0
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
        return (
            f"LOAD devices={len(self.devices)} sent={sent} raw={len(raw)} "
            f"compacted={compacted.unique} search={search.unique} "
            f"lost={max(sent - min(compacted.unique, search.unique), 0)} "
            f"duplicates={compacted.duplicates} "
            f"readings_per_s={rate:.0f} p95_publish_to_raw_ms={p95:.0f}"
        )


def spool_folder(state_dir: Path, in_memory: bool) -> Path:
    """Where the devices' spools go: in the state folder, or (`in_memory`, where there is tmpfs)
    a new folder in memory."""
    if in_memory and MEMORY_FOLDER.is_dir() and os.access(MEMORY_FOLDER, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="localcloud-load-spools-", dir=MEMORY_FOLDER))
    return state_dir / "spools"


def publishing(fleet: list[subprocess.Popen[bytes]]) -> bool:
    return any(process.poll() is None for process in fleet)


def raw_with_latency(
    bucket: str,
) -> tuple[Counter[tuple[str, int]], dt.datetime, dt.datetime, list[float]]:
    """Raw readings per (device_id, seq); the first `ts` and the last object's time; per reading,
    the object's LastModified minus the reading's `ts` in milliseconds."""
    readings: Counter[tuple[str, int]] = Counter()
    latencies: list[float] = []
    first = last = dt.datetime.now(dt.UTC)
    seen_any = False
    for modified, reading in json_lines_with_time(bucket, "raw/"):
        readings[(reading["device_id"], int(reading["seq"]))] += 1
        ts = dt.datetime.fromisoformat(reading["ts"].replace("Z", "+00:00"))
        latencies.append((modified - ts).total_seconds() * 1000)
        if not seen_any:
            first, last, seen_any = ts, modified, True
        first, last = min(first, ts), max(last, modified)
    return readings, first, last, latencies


def say(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(
    devices: int, rate_hz: float, minutes: float, state_dir: Path, spools_in_memory: bool = False
) -> int:
    load = Load(state_dir, devices, rate_hz, minutes, spools_in_memory)
    clean = False
    try:
        load.start()
        line = load.run_fleet(timeout=minutes * 60 + 900)
        clean = " lost=0 duplicates=0 " in line
    finally:
        say("stopping the local cloud")
        load.stop()
        if not clean:  # lost, duplicated or raised: what the devices still hold stays
            say(f"the devices' spools are kept in {load.spools}")
        elif load.spools.is_relative_to(MEMORY_FOLDER):
            shutil.rmtree(load.spools, ignore_errors=True)
    print(line, flush=True)  # the last line
    return 0 if clean else 1
