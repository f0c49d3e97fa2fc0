"""The durable spool: every reading is on disk before it is published, and leaves only after its
PUBACK.

One SQLite file with a rollback journal (see "Journal mode" below):

- `readings(id, device_id, seq, payload)`: readings waiting for a PUBACK, in arrival order (`id`);
- `sequences(device_id, next_seq)`: the next `seq` per device, updated in the same transaction as
  the insert, so `seq` survives restarts and a `kill -9` can neither reuse nor skip a number;
- `counters`: spool size (kept by triggers), published, dropped_oldest, refused_new;
- `state`: what `python -m device status` shows (last PUBACK, connection state, last error).

A transaction is committed before anything is handed to MQTT, and with `synchronous=FULL` (the
default) a committed reading also survives a power cut. A reading deleted only after its PUBACK
may be published twice (if the process dies between the PUBACK and the delete); `(device_id,
seq)` identifies it downstream, so duplicates are harmless and losses impossible.

A new device's `seq` starts at the current Unix time in milliseconds. If a spool file is lost
(a new SD card), the device therefore continues above its old numbers instead of reusing them,
which downstream de-duplication would otherwise discard as duplicates.

The spool is bounded (`max_readings`). When it is full, `drop-oldest` deletes the oldest reading
to make room and `refuse-new` does not store the new one; both are counted, and the reading's
`seq` is used up either way, so the loss shows downstream as a gap in `seq`.

Faults (device/spool_file.py): every sqlite3 error is raised as one `SpoolFileError` that names
the file, the operation and the operating system's reason. Before every write the spool checks
that its path still names the file it opened; a spool deleted or replaced under a running
publisher raises `SpoolFileError` instead of writing into a file nobody will read again.

Journal mode: `TRUNCATE` with memory-mapped I/O off (`mmap_size=0`), not WAL. In WAL mode every
connection maps the `-shm` wal-index file into its memory (and with `mmap_size` > 0 the
database file too). A fault on a mapped page (the file truncated under it, an SD card that
fails or is remounted read-only, a full disk) arrives as SIGBUS and kills the process without a
word; with read() and write() the same faults are error codes that SQLite returns and the spool
reports (tests/unit/device/test_spool_faults.py truncates the `-shm` of a WAL spool: SIGBUS; the
same with this spool: an exception). `PRAGMA locking_mode=EXCLUSIVE` set before WAL is first
used would keep the wal-index in heap memory instead (SQLite's "WAL without shared memory"), but
then only one connection may use the file, and there are three: the sampler's, the sender's and
`python -m device status`, which reads while the publisher runs. TRUNCATE rather than DELETE
commits by truncating the journal instead of deleting it (no directory update per transaction);
with `synchronous=FULL` SQLite syncs that truncation, so a committed transaction survives a power
cut. The cost against WAL: a writer waits until readers finish (the 30 s busy timeout covers it)
and a commit needs more fsyncs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from device.spool_file import EXIT_SPOOL, FileIdentity, SpoolError, SpoolFileError, from_sqlite

__all__ = ["EXIT_SPOOL", "Spool", "SpoolError", "SpoolFileError"]

FullPolicy = Literal["drop-oldest", "refuse-new"]
FULL_POLICIES: tuple[FullPolicy, ...] = ("drop-oldest", "refuse-new")
Synchronous = Literal["full", "normal"]
DEFAULT_MAX_READINGS = 604_800  # 7 days at 1 Hz, about 200 MB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE TABLE IF NOT EXISTS sequences (device_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO counters (name, value) VALUES
    ('size', 0), ('published', 0), ('dropped_oldest', 0), ('refused_new', 0);
CREATE TRIGGER IF NOT EXISTS readings_size_up AFTER INSERT ON readings
    BEGIN UPDATE counters SET value = value + 1 WHERE name = 'size'; END;
CREATE TRIGGER IF NOT EXISTS readings_size_down AFTER DELETE ON readings
    BEGIN UPDATE counters SET value = value - 1 WHERE name = 'size'; END;
PRAGMA user_version = 1;
"""


def epoch_millis() -> int:
    """The default first `seq` of a device new to this spool."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class AppendResult:
    """What `Spool.append` did: stored `(device_id, seq)` pairs and what the full policy cost."""

    stored: list[tuple[str, int]]
    dropped_oldest: int = 0
    refused_new: int = 0


@dataclass(frozen=True)
class SpoolStats:
    """A snapshot for `status`: sizes, counters and the publisher's last reported state."""

    size: int
    pending_by_device: dict[str, int]
    next_seq: dict[str, int]
    published: int
    dropped_oldest: int
    refused_new: int
    state: dict[str, str | None] = field(default_factory=dict)


class Spool:
    """One connection to the spool file. Use one `Spool` per thread."""

    def __init__(
        self,
        path: Path,
        max_readings: int = DEFAULT_MAX_READINGS,
        full_policy: FullPolicy = "drop-oldest",
        synchronous: Synchronous = "full",
        first_seq: Callable[[], int] = epoch_millis,
        create: bool = True,
    ) -> None:
        if max_readings < 1:
            raise ValueError(f"max_readings must be >= 1, got {max_readings}")
        if full_policy not in FULL_POLICIES:
            raise ValueError(f"full policy {full_policy!r}: choose one of {FULL_POLICIES}")
        self.path = Path(path)
        self.max_readings = max_readings
        self.full_policy = full_policy
        self._first_seq = first_seq
        if not create and not self.path.exists():
            raise SpoolError(f"no spool at {self.path}")
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise SpoolFileError(self.path, "create its folder", str(err)) from err
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as err:
            raise from_sqlite(self.path, "open it", err, create) from err
        try:
            self._identity = FileIdentity.of(self.path)
            self._db.execute("PRAGMA mmap_size=0")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if create:
                self._db.executescript(_SCHEMA)  # first: a read-only file fails here, clearly
                self._set_journal_mode()
            else:
                self._db.execute("SELECT 1 FROM readings LIMIT 1")
        except sqlite3.DatabaseError as err:
            self._db.close()
            if create and isinstance(err, sqlite3.OperationalError):
                raise from_sqlite(self.path, "open it", err) from err
            raise SpoolError(f"{self.path} is not a usable spool: {err}") from err

    def _set_journal_mode(self) -> None:
        """TRUNCATE (module docstring); a spool of an older version in WAL mode is converted."""
        (mode,) = self._db.execute("PRAGMA journal_mode=TRUNCATE").fetchone()
        if mode != "truncate":
            raise SpoolError(
                f"{self.path} stays in journal mode {mode!r}: does another process have it open? "
                "(stop it, then start the publisher again)"
            )

    @contextlib.contextmanager
    def _io(self, operation: str, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection for `operation`; sqlite3 errors become SpoolFileError. A write first
        checks that the path still names the opened file."""
        if write:
            self._identity.check(operation)
        try:
            yield self._db
        except sqlite3.Error as err:
            if write:  # deleted or replaced meanwhile (SQLITE_READONLY_DBMOVED): say that
                self._identity.check(operation)
            raise from_sqlite(self.path, operation, err, write) from err

    def _rollback(self) -> None:
        """Undo an open transaction. After a failed COMMIT SQLite may have rolled back already,
        and a failing ROLLBACK must not hide the error that caused it."""
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def check_file(self) -> None:
        """Raise SpoolFileError if the spool's path no longer names the file opened."""
        self._identity.check("keep using it")

    # -- writing ---------------------------------------------------------------------------
    def append(self, items: Sequence[tuple[str, Callable[[int], bytes]]]) -> AppendResult:
        """Store readings in one transaction. Each item is (device_id, build) where
        `build(seq)` returns the payload for the `seq` the spool assigns."""
        if not items:
            return AppendResult(stored=[])
        with self._io("store readings", write=True) as db:
            return self._append(db, items)

    def _append(
        self, db: sqlite3.Connection, items: Sequence[tuple[str, Callable[[int], bytes]]]
    ) -> AppendResult:
        stored: list[tuple[str, int]] = []
        dropped = refused = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            size = self._counter("size")
            next_seq: dict[str, int] = {}
            for device_id, build in items:
                if device_id not in next_seq:
                    row = db.execute(
                        "SELECT next_seq FROM sequences WHERE device_id = ?", (device_id,)
                    ).fetchone()
                    next_seq[device_id] = int(row[0]) if row else self._first_seq()
                seq = next_seq[device_id]
                next_seq[device_id] = seq + 1
                if size >= self.max_readings:
                    if self.full_policy == "refuse-new":
                        refused += 1
                        continue
                    db.execute("DELETE FROM readings WHERE id = (SELECT min(id) FROM readings)")
                    dropped += 1
                    size -= 1
                db.execute(
                    "INSERT INTO readings (device_id, seq, payload) VALUES (?, ?, ?)",
                    (device_id, seq, build(seq)),
                )
                size += 1
                stored.append((device_id, seq))
            db.executemany(
                "INSERT INTO sequences (device_id, next_seq) VALUES (?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET next_seq = excluded.next_seq",
                list(next_seq.items()),
            )
            if dropped:
                self._bump("dropped_oldest", dropped)
            if refused:
                self._bump("refused_new", refused)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return AppendResult(stored=stored, dropped_oldest=dropped, refused_new=refused)

    def acknowledge(self, acked: Iterable[tuple[str, int]], at: dt.datetime | None = None) -> int:
        """Delete PUBACKed readings; returns how many were still in the spool."""
        pairs = list(acked)
        if not pairs:
            return 0
        when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
        with self._io("delete PUBACKed readings", write=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                before = self._counter("size")
                db.executemany("DELETE FROM readings WHERE device_id = ? AND seq = ?", pairs)
                deleted = before - self._counter("size")
                self._bump("published", len(pairs))
                self._set_state(db, {"last_puback_at": when})
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return deleted

    def set_state(self, **values: str | None) -> None:
        """Record publisher state for `status` (connection, last_error, ...)."""
        with self._io("record the publisher's state", write=True) as db:
            self._set_state(db, values)

    # -- reading ---------------------------------------------------------------------------
    def pending(self, device_id: str, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` readings of `device_id` with seq > `after_seq`, in seq order."""
        with self._io("read readings") as db:
            rows = db.execute(
                "SELECT seq, payload FROM readings WHERE device_id = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (device_id, after_seq, limit),
            ).fetchall()
        return [(int(seq), bytes(payload)) for seq, payload in rows]

    def get(self, device_id: str, seq: int) -> bytes | None:
        with self._io("read a reading") as db:
            row = db.execute(
                "SELECT payload FROM readings WHERE device_id = ? AND seq = ?", (device_id, seq)
            ).fetchone()
        return bytes(row[0]) if row else None

    def devices(self) -> list[str]:
        """Every device that ever had a reading in this spool."""
        with self._io("read its devices") as db:
            return [r[0] for r in db.execute("SELECT device_id FROM sequences ORDER BY 1")]

    def size(self) -> int:
        with self._io("count its readings"):
            return self._counter("size")

    def stats(self) -> SpoolStats:
        with self._io("read its status") as db:
            return self._stats(db)

    def _stats(self, db: sqlite3.Connection) -> SpoolStats:
        counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        pending = dict(
            db.execute("SELECT device_id, count(*) FROM readings GROUP BY device_id").fetchall()
        )
        return SpoolStats(
            size=int(counters.get("size", 0)),
            pending_by_device={str(k): int(v) for k, v in pending.items()},
            next_seq={str(k): int(v) for k, v in db.execute("SELECT * FROM sequences")},
            published=int(counters.get("published", 0)),
            dropped_oldest=int(counters.get("dropped_oldest", 0)),
            refused_new=int(counters.get("refused_new", 0)),
            state=dict(db.execute("SELECT name, value FROM state").fetchall()),
        )

    def close(self) -> None:
        self._db.close()

    # -- helpers ---------------------------------------------------------------------------
    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, name: str, by: int) -> None:
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))

    @staticmethod
    def _set_state(db: sqlite3.Connection, values: dict[str, str | None]) -> None:
        db.executemany(
            "INSERT INTO state (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )
