"""The spool when its file fails: deleted, replaced, immutable, truncated under it. Each is made
for real (the tests run as root, where file modes stop nothing, so `chattr +i`); the errors name
the file, the operation and the reason."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from device.spool import Spool, SpoolError, SpoolFileError
from device.spool_file import os_reason

ROOT = Path(__file__).resolve().parents[3]


def items(n=1):
    return [("a", lambda seq: b'{"x":1}')] * n


@pytest.fixture
def path(tmp_path):
    return tmp_path / "spool.db"


def test_rollback_journal_without_memory_mapping(path):
    spool = Spool(path)
    spool.append(items(3))
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "truncate"
    assert spool._db.execute("PRAGMA mmap_size").fetchone()[0] == 0
    spool.close()
    assert not Path(f"{path}-shm").exists()  # nothing SQLite would map into memory


def test_a_spool_of_the_wal_version_is_converted_with_its_readings(path):
    first = Spool(path, first_seq=lambda: 0)
    first._db.execute("PRAGMA journal_mode=WAL")  # as the previous version left it
    first.append(items(2))
    first.close()
    spool = Spool(path, first_seq=lambda: 0)
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "truncate"
    assert [seq for seq, _ in spool.pending("a", -1, 10)] == [0, 1]
    spool.close()


def test_a_deleted_spool_file_is_refused_at_the_next_write(path):
    spool = Spool(path)
    spool.append(items())
    os.unlink(path)
    expected = f"spool {path}: cannot store readings: the file was deleted while the publisher"
    with pytest.raises(SpoolFileError, match=expected):
        spool.append(items())
    with pytest.raises(SpoolFileError, match="cannot record the publisher's state: the file was"):
        spool.set_state(connection="connected")
    with pytest.raises(SpoolFileError, match="cannot delete PUBACKed readings: the file was del"):
        spool.acknowledge([("a", 1)])
    with pytest.raises(SpoolFileError, match="cannot keep using it: the file was deleted"):
        spool.check_file()
    spool.close()
    assert not path.exists()  # nothing was written into a new file either


def test_a_replaced_spool_file_is_refused_at_the_next_write(path, tmp_path):
    spool = Spool(path)
    other = Spool(tmp_path / "other.db")
    other.close()
    os.replace(tmp_path / "other.db", path)
    with pytest.raises(SpoolFileError, match=r"the file was replaced by another one \(inode"):
        spool.append(items())
    spool.close()


@pytest.fixture
def immutable(path):
    """Make `path` immutable (chattr +i stops root too); undone afterwards."""
    made = []

    def make():
        result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if result.returncode:
            pytest.skip(f"chattr +i is not possible here: {result.stderr.decode().strip()}")
        made.append(path)

    yield make
    for p in made:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def test_an_unwritable_spool_file_names_the_file_the_operation_and_the_reason(path, immutable):
    spool = Spool(path)
    spool.append(items())
    immutable()
    with pytest.raises(SpoolFileError) as caught:
        spool.append(items(50))
    message = str(caught.value)
    assert message.startswith(f"spool {path}: cannot store readings: ")
    assert "(SQLITE_IOERR_WRITE)" in message or "(SQLITE_READONLY" in message, message
    assert "may not write spool.db" in message
    spool.close()


def test_a_read_only_folder_is_named_with_the_os_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "spool.db").touch()
    script = textwrap.dedent(
        f"""
        import subprocess, sys
        from pathlib import Path
        from device.spool_file import os_reason
        folder = Path({str(folder)!r})
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        print(os_reason(folder / "spool.db"))
        """
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if result.returncode and "mount" in result.stderr + result.stdout.lower():
        pytest.skip(f"no private read-only bind mount here: {result.stderr.strip()[-200:]}")
    assert result.stdout.strip() == (
        f"a test write in {folder} failed: Read-only file system (EROFS)"
    ), result.stderr
    assert os_reason(folder / "gone.db") == "gone.db no longer exists"


# Each script truncates a file of a spool in use to zero bytes, as a failing SD card or a
# careless `> spool.db` would, and writes again.
TRUNCATED = textwrap.dedent(
    """
    import os, sqlite3, sys
    from pathlib import Path
    from device.spool import Spool, SpoolError
    path, kind = Path(sys.argv[1]), sys.argv[2]
    if kind == "wal":  # the previous journal mode: the -shm file is mapped into memory
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        os.truncate(f"{path}-shm", 0)
        db.execute("INSERT INTO t VALUES (2)")
        print("written")
    else:
        spool = Spool(path)
        spool.append([("a", lambda seq: b"x" * 200)] * 500)
        os.truncate(path, 0)
        try:
            spool.append([("a", lambda seq: b"x" * 200)])
            spool.size()
        except SpoolError as err:
            print(err)
    """
)


def run_truncated(path, kind):
    return subprocess.run(
        [sys.executable, "-c", TRUNCATED, str(path), kind],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=60,
    )


def test_a_file_truncated_under_a_wal_database_kills_the_process_with_sigbus(path):
    result = run_truncated(path, "wal")  # why the spool left WAL mode
    assert result.returncode == -signal.SIGBUS
    assert result.stdout == ""


def test_a_file_truncated_under_the_spool_is_an_error_naming_it_not_a_signal(path):
    result = run_truncated(path, "spool")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"spool {path}: cannot "), result.stdout


def test_a_missing_folder_that_cannot_be_made_is_a_spool_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SpoolError, match="cannot create its folder"):
        Spool(tmp_path / "file" / "spool.db")


def test_reading_a_spool_never_writes_next_to_it(tmp_path):
    # `status` on a spool the publisher is still creating (the file there, its tables not yet)
    (tmp_path / "spool.db").touch()
    with pytest.raises(SpoolError, match="is not a usable spool: no such table: readings"):
        Spool(tmp_path / "spool.db", create=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spool.db"]  # no test write was made
