"""Persistence of the emulated OpenSearch: a directory that survives a restart.

Layout of the data directory:

    cluster.json                 index templates, ISM policies, security roles mappings
    indices/<name>/meta.json     settings, mappings, uuid, creation date, ISM state of one index
    indices/<name>/docs.jsonl    the index's document journal, one operation per line:
                                 {"op": "index", "_id", "_version", "_seq_no", "_source"}

JSON files are replaced atomically (write, then rename). Journal lines are appended as the
operations happen and handed to the operating system at the end of every request (`flush`);
`close` and `load` rewrite each journal to its live documents only. A journal's last line cut off
by a crash is skipped with a warning on load.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

LOG = logging.getLogger("localcloud.opensearch")


@dataclass
class IndexSnapshot:
    """One index as read back from disk: its meta data and its live documents in order."""

    name: str
    meta: dict[str, Any]
    documents: list[dict[str, Any]] = field(default_factory=list)
    next_seq_no: int = 0  # one past the highest sequence number in the journal, deletes included


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(temporary, path)


class Journal:
    """Reads and writes one emulated cluster's data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.indices_dir = data_dir / "indices"
        self._handles: dict[str, IO[str]] = {}
        self._dead_lines: dict[str, int] = {}
        self.indices_dir.mkdir(parents=True, exist_ok=True)

    def load_cluster(self) -> dict[str, Any]:
        path = self.data_dir / "cluster.json"
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def load_indices(self) -> list[IndexSnapshot]:
        snapshots = []
        for folder in sorted(p for p in self.indices_dir.iterdir() if p.is_dir()):
            meta_path = folder / "meta.json"
            if not meta_path.exists():
                LOG.warning("emulated OpenSearch: %s has no meta.json, skipped", folder)
                continue
            snapshot = IndexSnapshot(folder.name, json.loads(meta_path.read_text(encoding="utf-8")))
            self._replay(folder / "docs.jsonl", snapshot)
            snapshots.append(snapshot)
        return snapshots

    def _replay(self, path: Path, snapshot: IndexSnapshot) -> None:
        live: dict[str, dict[str, Any]] = {}
        snapshot.next_seq_no = int(snapshot.meta.get("next_seq_no", 0))
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        LOG.warning(
                            "emulated OpenSearch: %s line %d is cut off, skipped", path, number
                        )
                        continue
                    snapshot.next_seq_no = max(snapshot.next_seq_no, record["_seq_no"] + 1)
                    live.pop(record["_id"], None)
                    live[record["_id"]] = record
        snapshot.documents = list(live.values())

    def write_cluster(self, state: dict[str, Any]) -> None:
        _write_json(self.data_dir / "cluster.json", state)

    def write_meta(self, name: str, meta: dict[str, Any]) -> None:
        _write_json(self.indices_dir / name / "meta.json", meta)

    def append(self, name: str, record: dict[str, Any], replaces: bool = False) -> None:
        """Add an operation to the index's journal; replaces: it supersedes an earlier line."""
        handle = self._handles.get(name)
        if handle is None:
            handle = (self.indices_dir / name / "docs.jsonl").open("a", encoding="utf-8")
            self._handles[name] = handle
        handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        if replaces:
            self._dead_lines[name] = self._dead_lines.get(name, 0) + 1

    def rewrite(self, name: str, meta: dict[str, Any], documents: Iterable[dict[str, Any]]) -> None:
        """Replace the index's journal with its live documents (and its meta data)."""
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.close()
        folder = self.indices_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / "docs.jsonl.tmp"
        with temporary.open("w", encoding="utf-8") as out:
            for record in documents:
                out.write(json.dumps(record, separators=(",", ":")) + "\n")
        os.replace(temporary, folder / "docs.jsonl")
        self.write_meta(name, meta)
        self._dead_lines[name] = 0

    def needs_rewrite(self, name: str) -> bool:
        return self._dead_lines.get(name, 0) > 0

    def drop(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.close()
        self._dead_lines.pop(name, None)
        shutil.rmtree(self.indices_dir / name, ignore_errors=True)

    def flush(self) -> None:
        for handle in self._handles.values():
            handle.flush()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()
