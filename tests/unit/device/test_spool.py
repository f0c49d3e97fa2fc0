import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from device.spool import Spool, SpoolError

ROOT = Path(__file__).resolve().parents[3]


def payload(device):
    return lambda seq: f'{{"device_id":"{device}","seq":{seq}}}'.encode()


def items(device, n):
    return [(device, payload(device))] * n


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool.db", first_seq=lambda: 0)
    yield s
    s.close()


def test_seq_increases_per_device(spool):
    result = spool.append([*items("a", 2), *items("b", 1), *items("a", 1)])
    assert result.stored == [("a", 0), ("a", 1), ("b", 0), ("a", 2)]
    assert spool.pending("a", -1, 10) == [(s, payload("a")(s)) for s in (0, 1, 2)]
    assert spool.pending("a", 0, 1) == [(1, payload("a")(1))]
    assert spool.size() == 4
    assert spool.devices() == ["a", "b"]


def test_seq_survives_reopen_and_is_never_reused(tmp_path):
    path = tmp_path / "spool.db"
    first = Spool(path, first_seq=lambda: 100)
    first.append(items("a", 3))
    first.acknowledge([("a", 100), ("a", 101), ("a", 102)])
    first.close()
    second = Spool(path, first_seq=lambda: 0)
    assert second.append(items("a", 1)).stored == [("a", 103)]
    second.close()


def test_a_new_device_starts_at_the_clock_in_milliseconds(tmp_path):
    s = Spool(tmp_path / "spool.db", first_seq=lambda: 1_440_115_110_000)
    assert s.append(items("a", 1)).stored == [("a", 1_440_115_110_000)]
    s.close()


def test_default_first_seq_is_wall_clock_millis(tmp_path):
    before = time.time_ns() // 1_000_000
    s = Spool(tmp_path / "spool.db")
    ((_, seq),) = s.append(items("a", 1)).stored
    s.close()
    assert before <= seq <= time.time_ns() // 1_000_000


def test_acknowledge_deletes_and_records_the_puback(spool):
    spool.append(items("a", 3))
    assert spool.acknowledge([("a", 0), ("a", 2), ("a", 9)]) == 2
    assert [s for s, _ in spool.pending("a", -1, 10)] == [1]
    stats = spool.stats()
    assert stats.size == 1
    assert stats.published == 3
    assert stats.state["last_puback_at"]


def test_drop_oldest_keeps_the_newest_and_counts(tmp_path):
    s = Spool(tmp_path / "s.db", max_readings=3, full_policy="drop-oldest", first_seq=lambda: 0)
    s.append(items("a", 2))
    result = s.append([*items("b", 1), *items("a", 2)])
    assert result.dropped_oldest == 2
    assert s.size() == 3
    assert [x for x, _ in s.pending("a", -1, 10)] == [2, 3]
    assert [x for x, _ in s.pending("b", -1, 10)] == [0]
    assert s.stats().dropped_oldest == 2
    s.close()


def test_refuse_new_keeps_the_oldest_counts_and_uses_up_the_seq(tmp_path):
    s = Spool(tmp_path / "s.db", max_readings=2, full_policy="refuse-new", first_seq=lambda: 0)
    result = s.append(items("a", 4))
    assert result.stored == [("a", 0), ("a", 1)]
    assert result.refused_new == 2
    s.acknowledge([("a", 0)])
    # the refused readings had seq 2 and 3: the gap shows the loss downstream
    assert s.append(items("a", 1)).stored == [("a", 4)]
    assert s.stats().refused_new == 2
    s.close()


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="full policy"):
        Spool(tmp_path / "s.db", full_policy="drop-newest")
    with pytest.raises(ValueError, match="max_readings"):
        Spool(tmp_path / "s.db", max_readings=0)


def test_open_existing_only(tmp_path):
    with pytest.raises(SpoolError, match="no spool"):
        Spool(tmp_path / "missing.db", create=False)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SpoolError, match="not a usable spool"):
        Spool(tmp_path / "junk.db")


def test_a_failing_builder_rolls_the_whole_batch_back(spool):
    def broken(seq):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        spool.append([*items("a", 2), ("a", broken)])
    assert spool.size() == 0
    assert spool.append(items("a", 1)).stored == [("a", 0)]


WRITER = textwrap.dedent(
    """
    import sys
    from device.spool import Spool
    spool = Spool(sys.argv[1], first_seq=lambda: 0)
    while True:
        (device, seq), = spool.append([("a", lambda s: b"x" * 200)]).stored
        print(seq, flush=True)
    """
)


def test_sigkill_loses_no_committed_reading_and_reuses_no_seq(tmp_path):
    path = tmp_path / "spool.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    committed = [int(proc.stdout.readline()) for _ in range(300)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    spool = Spool(path, first_seq=lambda: 0)
    stored = [seq for seq, _ in spool.pending("a", -1, 1_000_000)]
    assert set(committed) <= set(stored)
    assert stored == list(range(len(stored)))  # no gap, no duplicate
    ((_, after),) = spool.append(items("a", 1)).stored
    assert after == len(stored)
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    spool.close()
