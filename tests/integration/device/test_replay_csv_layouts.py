"""Logs that are not the Astro Pi's, through `python -m device check` and `publish` over mosquitto:
a headerless multi-device log with millisecond times and a two-character separator, and a log of
which no row can be read."""

import pytest
from device_harness import run_device, write_config

pytestmark = pytest.mark.integration

DEVICES = ["room-a-1", "room-b-1"]
LAYOUT = """[replay]
path = "{path}"
header = false
separator = ", "
time_column = "1"
time_format = "unix_ms"
device_column = "2"
speed = 0
[replay.columns]
temperature = "3"
humidity = "4"
"""


def headerless_log(tmp_path, broker, ca, name, rows):
    """The log `name` of `rows` and a config of room-a-1 that replays it with LAYOUT."""
    log = tmp_path / name
    log.write_text("".join(f"{', '.join(row)}\n" for row in rows), encoding="utf-8")
    config = write_config(
        tmp_path / "c.toml",
        broker,
        ca,
        "room-a-1",
        "replay",
        extra=LAYOUT.format(path=log),
        devices=DEVICES,
    )
    return log, config


def test_a_headerless_millisecond_log_of_two_devices_is_published_as_given(
    tmp_path, broker, ca, observer
):
    _log, config = headerless_log(
        tmp_path,
        broker,
        ca,
        "rooms.csv",
        [
            ("1733097600123", "room-a-1", "21.123456", "40.5"),
            ("1733097600456", "room-b-1", "19.5", "55.25"),
            ("1733097601123", "room-a-1", "21.2", "40.75"),
        ],
    )
    checked = run_device("check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "3 of the first 3 rows parsed, devices room-a-1, room-b-1" in checked.stdout
    published = run_device("publish", "--config", str(config), timeout=120)
    assert published.returncode == 0, published.stderr[-3000:]
    observer.wait_for(lambda: len(observer.readings()) >= 3, timeout=60)
    arrived = sorted(observer.readings(), key=lambda r: r["ts"])
    assert [(r["device_id"], r["ts"], r["temperature"], r["humidity"]) for r in arrived] == [
        ("room-a-1", "2024-12-02T00:00:00.123Z", 21.123456, 40.5),
        ("room-b-1", "2024-12-02T00:00:00.456Z", 19.5, 55.25),
        ("room-a-1", "2024-12-02T00:00:01.123Z", 21.2, 40.75),
    ]
    assert all("pressure" not in r and "flags" not in r for r in arrived)  # not made up
    assert "read 3 rows, rejected 0" in published.stderr


def test_a_log_of_which_no_row_can_be_read_fails_check_and_publish_alike(
    tmp_path, broker, ca, observer
):
    # Seconds where the layout says milliseconds would be plausible numbers; a formatted time
    # is not a number at all.
    log, config = headerless_log(
        tmp_path,
        broker,
        ca,
        "wrong.csv",
        [(f"2024-12-02 00:00:{i:02d}", "room-a-1", "21.5", "40") for i in range(50)],
    )
    checked = run_device("check", "--config", str(config))
    published = run_device("publish", "--config", str(config), timeout=120)
    assert checked.returncode == published.returncode == 65, (checked, published)
    summary = (
        f"replay {log}: all 50 rows rejected, nothing to publish (first: line 1: time "
        "'2024-12-02 00:00:00' does not match 'unix_ms'"
    )
    assert summary in checked.stderr
    rejected_lines = [line for line in published.stderr.splitlines() if "rejected" in line]
    assert len(rejected_lines) == 1, published.stderr
    assert summary in rejected_lines[0]
    assert observer.readings() == []
