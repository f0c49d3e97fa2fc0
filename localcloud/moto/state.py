"""What the moto server keeps across a restart and a crash: the data in the deployed resources.

moto holds everything in memory. The local cloud deploys its template anew on every start, so
the resources themselves (buckets, tables, queues, roles, ...) come back from the template; what
must survive is their data:
- S3: every bucket's objects (all versions);
- DynamoDB: every table's items;
- SQS: every queue's messages (the S3 event notifications not yet handled by a function);
  those in flight when the server stopped are visible again at once after the restore (their
  receivers were the previous run's), their receive counts kept;
- Glue: the tables created by queries (CTAS, views) and every table's partitions;
- the local stand-ins' Kinesis checkpoints (`/_localcloud/checkpoints/<name>`, used by the
  Firehose delivery workers and the Lambda event source mappings; localcloud/kinesis/consumer.py).

The checkpoints live here, not in files of their own, so that they are saved in the same
snapshot as the objects and items they describe: after a crash the checkpoints never point past
data that was lost with the snapshot's last seconds, and the readings after them are read from
the stream (kinesalite, on disk) again. The snapshot is taken under the server's request lock,
so it is one consistent moment of every service.

When: `<state>` is written (atomically, fsync'd) every `interval` seconds while requests change
something, and when the server is told to stop (SIGTERM, also sent by the kernel when the local
cloud is killed: localcloud/core/service.py `dies_with_parent`). So a crash of the local cloud
loses nothing of moto's; a `kill -9` of moto itself loses at most the last `interval` seconds,
which the consumers then deliver again from the stream.

Restore: `POST /_localcloud/state/restore`, once the template is deployed, puts the kept data
into the resources of the same names. Data whose resource does not exist yet (the queues the
local Lambda creates for S3 notifications when it starts) waits, and goes into the resource when
a request creates it; until then it stays in the snapshots. Nothing is saved before the restore,
so a start that fails while deploying never overwrites the last good snapshot with an empty
one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.glue.models import glue_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends

from localcloud.core.aws import ACCOUNT_ID, PARTITION, REGION

log = logging.getLogger("localcloud.moto.state")
SNAPSHOT_VERSION = 1


def _backends() -> dict[str, Any]:
    return {
        "s3": s3_backends[ACCOUNT_ID][PARTITION],
        "dynamodb": dynamodb_backends[ACCOUNT_ID][REGION],
        "sqs": sqs_backends[ACCOUNT_ID][REGION],
        "glue": glue_backends[ACCOUNT_ID][REGION],
    }


def capture(checkpoints: dict[str, Any], pending: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The data of every resource, by service and name (call under the request lock); with the
    data still waiting for its resource (`pending`)."""
    backends = _backends()
    snapshot = {
        "version": SNAPSHOT_VERSION,
        "s3": {name: bucket.keys for name, bucket in backends["s3"].buckets.items()},
        "dynamodb": {name: table.items for name, table in backends["dynamodb"].tables.items()},
        "sqs": {name: queue._messages for name, queue in backends["sqs"].queues.items()},
        "glue": {
            name: dict(database.tables) for name, database in backends["glue"].databases.items()
        },
        "checkpoints": checkpoints,
    }
    for service, waiting in pending.items():
        for name, data in waiting.items():
            snapshot[service].setdefault(name, data)
    return snapshot


SERVICES = (("s3", "objects"), ("dynamodb", "items"), ("sqs", "messages"), ("glue", "tables"))


def apply(snapshot: dict[str, Any]) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """Put a snapshot's data into today's resources of the same names (call under the lock).
    Returns the counts restored per kind, and the data whose resource does not exist (yet)."""
    backends = _backends()
    resources = {
        "s3": (_objects, backends["s3"].buckets),
        "dynamodb": (_items, backends["dynamodb"].tables),
        "sqs": (_messages, backends["sqs"].queues),
        "glue": (_glue_tables, backends["glue"].databases),
    }
    counts: dict[str, int] = {}
    pending: dict[str, dict[str, Any]] = {}
    for service, kind in SERVICES:
        restore, existing = resources[service]
        counts[f"{service} {kind}"] = 0
        for name, data in snapshot.get(service, {}).items():
            if name in existing:
                counts[f"{service} {kind}"] += restore(existing[name], data)
            else:
                pending.setdefault(service, {})[name] = data
    return counts, pending


def _objects(bucket: Any, keys: Any) -> int:
    restored = 0
    for key, versions in keys.lists():
        if key not in bucket.keys:  # an object the deployment wrote is the newer one
            bucket.keys.setlist(key, versions)
            restored += 1
    return restored


def _items(table: Any, items: dict[Any, Any]) -> int:
    for key, item in items.items():
        table.items.setdefault(key, item)
    return sum(len(v) if isinstance(v, dict) else 1 for v in items.values())


def _messages(queue: Any, messages: list[Any]) -> int:
    for message in messages:
        # A message in flight was received by a poller of the previous run, which is gone: it
        # is visible again now, rather than when its visibility timeout (the function's timeout
        # and 30 s) runs out. Its receive count stays, so the redrive policy still counts the
        # attempt.
        message.visible_at = 0.0
    queue._messages.extend(messages)
    return len(messages)


def _glue_tables(database: Any, tables: dict[str, Any]) -> int:
    restored = 0
    for name, table in tables.items():
        current = database.tables.get(name)
        if current is None:  # made by a query, not by the template
            database.tables[name] = table
            restored += 1
        else:
            for values, partition in table.partitions.items():
                current.partitions.setdefault(values, partition)
    return restored


class StateKeeper:
    """The snapshot file of one moto server: checkpoints, saving, restoring."""

    def __init__(self, path: Path, lock: threading.Lock, interval: float = 1.0) -> None:
        self.path = path
        self.lock = lock
        self.interval = interval
        self.checkpoints: dict[str, Any] = {}
        self.pending: dict[str, dict[str, Any]] = {}  # data whose resource is not there yet
        self.restored = False  # nothing is saved before the restore
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def changed(self) -> None:
        self._dirty = True

    def restore(self) -> dict[str, Any]:
        """Load the snapshot, if there is one, into the deployed resources; from now on, save."""
        with self.lock:
            if self.restored:
                return {"restored": False, "reason": "already restored"}
            summary: dict[str, Any] = {"restored": False, "counts": {}, "waiting": []}
            try:
                with self.path.open("rb") as handle:
                    snapshot = pickle.load(handle)  # noqa: S301 - our own file, written here
            except FileNotFoundError:
                snapshot = None
            if snapshot is not None:
                counts, self.pending = apply(snapshot)
                self.checkpoints = dict(snapshot.get("checkpoints", {}))
                waiting = [f"{service} {name}" for service, d in self.pending.items() for name in d]
                summary = {"restored": True, "counts": counts, "waiting": waiting}
            self.restored = True
            self._dirty = True
        self.start()
        return summary

    def adopt(self) -> None:
        """Put kept data into resources created since the restore: the queues the local Lambda
        makes for S3 notifications when it starts (call under the lock, after a request)."""
        if self.pending:
            counts, self.pending = apply(self.pending)
            if any(counts.values()):
                log.info("kept data put into resources created since the restore: %s", counts)

    def save(self) -> bool:
        """Write a snapshot now (under the lock); False before the restore."""
        with self.lock:
            if not self.restored:
                return False
            snapshot = capture(self.checkpoints, self.pending)
            data = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
            self._dirty = False
        write_atomically(self.path, data)
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="moto-state", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._dirty:
                try:
                    self.save()
                except Exception:  # keep saving later; the server goes on serving
                    log.exception("saving moto's state to %s failed", self.path)

    def stop(self) -> None:
        """The last snapshot, then no more."""
        self._stop.set()
        self.save()

    # --- the checkpoints' HTTP resource ---------------------------------------------------

    def get_checkpoint(self, name: str) -> bytes | None:
        with self.lock:
            document = self.checkpoints.get(name)
        return None if document is None else json.dumps(document).encode()

    def put_checkpoint(self, name: str, body: bytes) -> None:
        document = json.loads(body)
        with self.lock:
            self.checkpoints[name] = document
            self._dirty = True


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
