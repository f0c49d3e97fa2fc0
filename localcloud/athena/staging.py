"""Staging S3 objects for DuckDB: downloads kept in a local cache, linked into each query.

DuckDB's httpfs extension is not available here, so the objects a query reads are downloaded.
Each download is kept in a cache folder under the key (bucket, key, ETag, size) that the listing
already returned, so a changed object is a new entry and a repeated query (the compactor's
discover query and CTAS read the same objects) does not download it again. A query gets a hard
link to the cached file in its own folder, so evicting an entry never removes a file a running
query reads. The cache holds at most `max_bytes`; the least recently used entries go first. It
starts empty: a folder left by an earlier run is cleared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

DEFAULT_CACHE_BYTES = 2 * 1024**3


class ObjectCache:
    """Local copies of S3 objects (a boto3 S3 client downloads them)."""

    def __init__(self, s3: Any, folder: Path, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.s3 = s3
        self.folder = folder
        self.max_bytes = max_bytes
        shutil.rmtree(folder, ignore_errors=True)  # entries of an earlier run are not accounted
        self._lock = threading.Lock()
        self._entries: OrderedDict[Path, int] = OrderedDict()
        self._bytes = 0
        self.downloads = 0

    def _entry(self, bucket: str, key: str, etag: str, size: int) -> Path:
        digest = hashlib.sha256(f"{bucket}\0{key}\0{etag}\0{size}".encode()).hexdigest()[:40]
        return self.folder / digest[:2] / f"{digest}-{key.rsplit('/', 1)[-1][-80:]}"

    def stage(self, bucket: str, key: str, etag: str, size: int, target: Path) -> None:
        """Make `target` a local copy of s3://bucket/key (raises botocore's ClientError)."""
        entry = self._entry(bucket, key, etag, size)
        with self._lock:
            cached = entry in self._entries and entry.exists()
            if cached:
                self._entries.move_to_end(entry)
        if not cached:
            self._download(bucket, key, entry, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(entry, target)
        except OSError:
            shutil.copyfile(entry, target)

    def _download(self, bucket: str, key: str, entry: Path, size: int) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_name(f".{uuid.uuid4().hex}.part")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            with body, open(partial, "wb") as handle:
                shutil.copyfileobj(body, handle, 1 << 20)
            os.replace(partial, entry)
        finally:
            partial.unlink(missing_ok=True)
        with self._lock:
            self.downloads += 1
            if entry not in self._entries:
                self._entries[entry] = size
                self._bytes += size
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            oldest, size = self._entries.popitem(last=False)
            self._bytes -= size
            oldest.unlink(missing_ok=True)
