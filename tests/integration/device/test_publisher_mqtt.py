"""The publisher against a real mosquitto with mutual TLS: order, outages, kill -9, ACL."""

import datetime as dt
import os
import signal
import time

import pytest
from device_harness import run_device, start_publisher, write_config

from device.reading import build_reading
from device.sources.synthetic import SyntheticSource, fleet_names
from device.spool import Spool
from localcloud.iot.ca import LocalCA

pytestmark = pytest.mark.integration

START = "2024-06-01T00:00:00+00:00"


def next_seq(config, thing):
    spool = Spool(config.parent / f"spool-{thing}.db", create=False)
    try:
        return spool.stats().next_seq
    finally:
        spool.close()


def first_seq(observer, device):
    """The seq of the stream's first sample: the lowest that arrived, provided it is the sample
    taken at START (seq follows sampling order, so nothing can precede it)."""
    first = min(observer.distinct(device))
    first_reading = next(r for r in observer.readings(device) if r["seq"] == first)
    assert first_reading["ts"] == "2024-06-01T00:00:00.000Z"
    return first


def assert_complete(observer, device, first, end):
    """Every seq in [first, end) arrived (duplicates allowed), nothing else."""
    assert observer.distinct(device) == set(range(first, end))


def wait_exit(process, timeout=120):
    try:
        return process.wait(timeout=timeout)
    except Exception:
        process.kill()
        raise


def test_readings_arrive_intact_and_in_order_per_device(tmp_path, broker, ca, observer):
    names = fleet_names("fleet", 3)
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "fleet",
        "synthetic",
        devices=names,
        extra=f'[synthetic]\ndevices = 3\ncount = 150\nspeed = 0\nstart = "{START}"\nseed = 4\n',
    )
    publisher = start_publisher(config, tmp_path / "publisher.log")
    assert wait_exit(publisher) == 0, (tmp_path / "publisher.log").read_text()
    observer.wait_for(lambda: all(len(observer.distinct(n)) == 150 for n in names))
    expected = SyntheticSource(
        names, count=150, speed=0, start=dt.datetime.fromisoformat(START), seed=4
    )
    samples = [s for s in expected.items()]
    for name in names:
        arrived = observer.readings(name)
        first = arrived[0]["seq"]
        assert [r["seq"] for r in arrived] == list(range(first, first + 150))  # in order, once
        mine = [s for s in samples if s.device_id == name]
        assert arrived == [build_reading(s, name, first + i) for i, s in enumerate(mine)]
    # Through Basic Ingest, to the default stack's rule.
    assert observer.topics() == {
        f"$aws/rules/sensor_pipeline_telemetry/sensors/{n}/telemetry" for n in names
    }


SLOW_STREAM = (  # 100 readings per second, simulated time from START
    f'[synthetic]\ncount = {{count}}\ninterval_seconds = 0.01\nspeed = 1\nstart = "{START}"\n'
)


def test_broker_outage_mid_stream_loses_nothing(tmp_path, broker, ca, observer):
    config = write_config(
        tmp_path / "c.toml", broker, ca, "dev-a", "synthetic", extra=SLOW_STREAM.format(count=1000)
    )
    publisher = start_publisher(config, tmp_path / "publisher.log")
    # Ten seconds of stream: the outage starts mid-stream even when a loaded machine delays
    # what the observer sees by several seconds.
    observer.wait_for(lambda: len(observer.distinct("dev-a")) >= 20)
    broker.stop()
    time.sleep(2)  # the source keeps sampling into the spool meanwhile
    broker.start()
    assert wait_exit(publisher) == 0, (tmp_path / "publisher.log").read_text()
    first = first_seq(observer, "dev-a")
    observer.wait_for(lambda: len(observer.distinct("dev-a")) == 1000)
    assert_complete(observer, "dev-a", first, first + 1000)
    assert "disconnected" in (tmp_path / "publisher.log").read_text()


def test_sigkill_mid_stream_and_restart_loses_nothing(tmp_path, broker, ca, observer):
    config = write_config(
        tmp_path / "c.toml", broker, ca, "dev-a", "synthetic", extra=SLOW_STREAM.format(count=300)
    )
    log = tmp_path / "publisher.log"
    publisher = start_publisher(config, log)
    observer.wait_for(lambda: len(observer.distinct("dev-a")) >= 100)
    os.kill(publisher.pid, signal.SIGKILL)
    publisher.wait()
    spooled_before_kill = next_seq(config, "dev-a")["dev-a"]
    # The restarted publisher first sends what the killed one left in the spool, then samples
    # its own 300 readings.
    restarted = start_publisher(config, log)
    assert wait_exit(restarted) == 0, log.read_text()
    end = next_seq(config, "dev-a")["dev-a"]
    first = first_seq(observer, "dev-a")
    assert end - spooled_before_kill == 300
    observer.wait_for(lambda: len(observer.distinct("dev-a")) == end - first)
    assert_complete(observer, "dev-a", first, end)


def test_a_device_cannot_publish_to_another_devices_topic(tmp_path, broker, ca, observer):
    # dev-b's publisher connects with dev-a's certificate: the broker sees user dev-a.
    ca.issue_device_certificate("dev-a")
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "dev-b",
        "synthetic",
        certificate_of="dev-a",
        extra="[synthetic]\ncount = 20\nspeed = 0\n",
    )
    result = run_device("publish", "--config", str(config), timeout=60)  # must not spin forever
    assert result.returncode == 78
    assert (
        "refused a publish to $aws/rules/sensor_pipeline_telemetry/sensors/dev-b/telemetry: "
        "NOT_AUTHORIZED" in result.stderr
    )
    time.sleep(0.5)
    assert observer.messages == []
    status = run_device("status", "--config", str(config))
    assert "backlog:        20 readings" in status.stdout
    assert "NOT_AUTHORIZED" in status.stdout


def test_a_publisher_with_a_foreign_certificate_keeps_everything_and_says_why(
    tmp_path, broker, ca, observer
):
    stranger = LocalCA(tmp_path / "stranger-ca").issue_device_certificate("dev-a")
    config = write_config(
        tmp_path / "c.toml", broker, ca, "dev-a", "synthetic", extra=SLOW_STREAM.format(count=0)
    )
    folder = ca.directory / "devices" / "{thing}"
    text = config.read_text()
    text = text.replace(str(folder / "certificate.pem.crt"), str(stranger.certificate))
    text = text.replace(str(folder / "private.pem.key"), str(stranger.private_key))
    config.write_text(text)
    log = tmp_path / "publisher.log"
    publisher = start_publisher(config, log)
    deadline = time.monotonic() + 30
    while "cannot connect" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # several reconnect attempts
    publisher.send_signal(signal.SIGTERM)
    assert wait_exit(publisher, 30) == 0
    text = log.read_text()
    assert "TLS handshake failed" in text
    assert text.count("cannot connect") == 1  # said once, not on every retry
    assert observer.messages == []
    status = run_device("status", "--config", str(config))
    backlog = int(status.stdout.split("backlog:")[1].split()[0])
    assert backlog > 0
