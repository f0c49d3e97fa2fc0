"""Benchmarks of the device publisher against a local mosquitto with mutual TLS.

Prints one line per figure:

- publish throughput with the rate limit off (one connection, synthetic readings sampled as
  fast as possible, spool with synchronous=FULL as on the Pi), in readings per second;
- CPU seconds (user + system, all threads of the process) per 10,000 readings in that run;
- time to drain a backlog already in the spool at the default rate limit (80/s per connection,
  with the MQTT client's IoT Core flow control on, as in production).

Usage: bench/bench_publisher.py [--readings 10000] [--backlog 86400] [--skip-drain]
The full drain of 86,400 readings (a day at 1 Hz) takes about 18 minutes by design (86,400 / 80).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device.config import Settings, load_settings
from device.publisher import Publisher, open_spool
from device.reading import Sample, build_reading, encode
from device.sources.base import LedMatrix, Pause
from device.sources.synthetic import SyntheticSource
from localcloud.iot.broker import MosquittoBroker
from localcloud.iot.ca import LocalCA

THING = "bench-01"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Backlog:
    """A finite source with nothing new: the publisher only drains what is in the spool."""

    name = "backlog"
    finite = True

    def items(self) -> Iterator[Sample | Pause]:
        return iter(())

    def device_ids(self) -> list[str]:
        return [THING]

    def led_matrix(self) -> LedMatrix | None:
        return None

    def close(self) -> None:
        return None


def settings_for(workdir: Path, broker: MosquittoBroker, ca: LocalCA, **publish: float) -> Settings:
    creds = ca.issue_device_certificate(THING)
    env = {
        "DEVICE_THING_NAME": THING,
        "DEVICE_SOURCE": "synthetic",
        "DEVICE_MQTT_ENDPOINT": broker.host,
        "DEVICE_MQTT_PORT": str(broker.port),
        "DEVICE_MQTT_CERTIFICATE": str(creds.certificate),
        "DEVICE_MQTT_PRIVATE_KEY": str(creds.private_key),
        "DEVICE_MQTT_CA": str(creds.ca),
        "DEVICE_SPOOL_PATH": str(workdir / "spool.db"),
        "DEVICE_LOG_LEVEL": "WARNING",
    }
    settings = load_settings(None, environ=env)
    return dataclasses.replace(settings, publish=dataclasses.replace(settings.publish, **publish))


def throughput(workdir: Path, broker: MosquittoBroker, ca: LocalCA, readings: int) -> None:
    settings = settings_for(workdir, broker, ca, rate_per_second=0)
    settings = dataclasses.replace(
        settings, mqtt=dataclasses.replace(settings.mqtt, iot_core_flow_control=False)
    )
    source = SyntheticSource([THING], count=readings, speed=0)
    cpu, began = cpu_seconds(), time.perf_counter()
    code = Publisher(settings, source).run(threading.Event())
    elapsed, used = time.perf_counter() - began, cpu_seconds() - cpu
    assert code == 0, f"publisher exited with {code}"
    print(f"publish throughput, rate limit off: {readings / elapsed:,.0f} readings/s")
    print(f"CPU seconds per 10,000 readings: {used * 10_000 / readings:.2f} s")


def fill(settings: Settings, count: int) -> None:
    spool = open_spool(settings)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=count)
    source = SyntheticSource([THING], count=count, speed=0, start=start)
    batch = []
    for sample in source.items():
        assert isinstance(sample, Sample)
        batch.append((THING, lambda seq, s=sample: encode(build_reading(s, THING, seq))))
        if len(batch) == 5_000:
            spool.append(batch)
            batch = []
    spool.append(batch)
    spool.close()


def drain(workdir: Path, broker: MosquittoBroker, ca: LocalCA, backlog: int) -> None:
    settings = settings_for(workdir, broker, ca)  # the defaults: 80/s, burst 10, flow control
    fill(settings, backlog)
    cpu, began = cpu_seconds(), time.perf_counter()
    code = Publisher(settings, Backlog()).run(threading.Event())
    elapsed, used = time.perf_counter() - began, cpu_seconds() - cpu
    assert code == 0, f"publisher exited with {code}"
    rate = settings.publish.rate_per_second
    print(
        f"drain a backlog of {backlog:,} readings at the default {rate:.0f}/s: "
        f"{elapsed:,.0f} s ({backlog / elapsed:.1f} readings/s)"
    )
    print(f"CPU seconds per 10,000 readings while draining: {used * 10_000 / backlog:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000)
    parser.add_argument("--backlog", type=int, default=86_400)
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = LocalCA(root / "ca")
        with MosquittoBroker(root / "broker", ca) as broker:
            (root / "throughput").mkdir()
            throughput(root / "throughput", broker, ca, args.readings)
            if not args.skip_drain:
                (root / "drain").mkdir()
                drain(root / "drain", broker, ca, args.backlog)


if __name__ == "__main__":
    main()
