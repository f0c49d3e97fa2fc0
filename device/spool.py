"""The durable spool: every reading is on disk before it is published, and leaves only after its
PUBACK.

One SQLite file in WAL mode:

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
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


class SpoolError(Exception):
    """The spool file cannot be used (missing, not a spool, unreadable)."""


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if create:
                self._db.executescript(_SCHEMA)
            else:
                self._db.execute("SELECT 1 FROM readings LIMIT 1")
        except sqlite3.DatabaseError as err:
            raise SpoolError(f"{self.path} is not a usable spool: {err}") from err

    # -- writing ---------------------------------------------------------------------------
    def append(self, items: Sequence[tuple[str, Callable[[int], bytes]]]) -> AppendResult:
        """Store readings in one transaction. Each item is (device_id, build) where
        `build(seq)` returns the payload for the `seq` the spool assigns."""
        if not items:
            return AppendResult(stored=[])
        stored: list[tuple[str, int]] = []
        dropped = refused = 0
        db = self._db
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
            db.execute("ROLLBACK")
            raise
        return AppendResult(stored=stored, dropped_oldest=dropped, refused_new=refused)

    def acknowledge(self, acked: Iterable[tuple[str, int]], at: dt.datetime | None = None) -> int:
        """Delete PUBACKed readings; returns how many were still in the spool."""
        pairs = list(acked)
        if not pairs:
            return 0
        when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            before = self._counter("size")
            db.executemany("DELETE FROM readings WHERE device_id = ? AND seq = ?", pairs)
            deleted = before - self._counter("size")
            self._bump("published", len(pairs))
            self._set_state(db, {"last_puback_at": when})
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return deleted

    def set_state(self, **values: str | None) -> None:
        """Record publisher state for `status` (connection, last_error, ...)."""
        self._set_state(self._db, values)

    # -- reading ---------------------------------------------------------------------------
    def pending(self, device_id: str, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to `limit` readings of `device_id` with seq > `after_seq`, in seq order."""
        rows = self._db.execute(
            "SELECT seq, payload FROM readings WHERE device_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (device_id, after_seq, limit),
        ).fetchall()
        return [(int(seq), bytes(payload)) for seq, payload in rows]

    def get(self, device_id: str, seq: int) -> bytes | None:
        row = self._db.execute(
            "SELECT payload FROM readings WHERE device_id = ? AND seq = ?", (device_id, seq)
        ).fetchone()
        return bytes(row[0]) if row else None

    def devices(self) -> list[str]:
        """Every device that ever had a reading in this spool."""
        return [r[0] for r in self._db.execute("SELECT device_id FROM sequences ORDER BY 1")]

    def size(self) -> int:
        return self._counter("size")

    def stats(self) -> SpoolStats:
        db = self._db
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
