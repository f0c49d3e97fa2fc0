"""The local Athena's object cache: one download per object version, bounded, safe to evict."""

import boto3
import pytest

from localcloud.athena.staging import ObjectCache

pytestmark = pytest.mark.integration

BUCKET = "staging-data"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(s3, key: str, body: bytes) -> tuple[str, int]:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    return head["ETag"], head["ContentLength"]


def test_an_object_is_downloaded_once_and_linked_into_each_query(s3, tmp_path):
    cache = ObjectCache(s3, tmp_path / "cache")
    etag, size = put(s3, "raw/a.gz", b"first")
    for query in ("q1", "q2"):
        target = tmp_path / query / "000000-a.gz"
        cache.stage(BUCKET, "raw/a.gz", etag, size, target)
        assert target.read_bytes() == b"first"
    assert cache.downloads == 1


def test_a_changed_object_is_downloaded_again(s3, tmp_path):
    cache = ObjectCache(s3, tmp_path / "cache")
    old = put(s3, "raw/a.gz", b"first")
    cache.stage(BUCKET, "raw/a.gz", *old, tmp_path / "q1" / "a.gz")
    new = put(s3, "raw/a.gz", b"second version")
    cache.stage(BUCKET, "raw/a.gz", *new, tmp_path / "q2" / "a.gz")
    assert (tmp_path / "q2" / "a.gz").read_bytes() == b"second version"
    assert cache.downloads == 2


def test_eviction_keeps_the_cache_bounded_and_files_in_use_readable(s3, tmp_path):
    cache = ObjectCache(s3, tmp_path / "cache", max_bytes=25)
    staged = []
    for number in range(4):
        key = f"raw/{number}.gz"
        etag, size = put(s3, key, bytes([number]) * 10)
        target = tmp_path / "query" / f"{number}.gz"
        cache.stage(BUCKET, key, etag, size, target)
        staged.append((key, etag, size, target))
    cached = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in cached) <= 25
    assert all(target.read_bytes() == bytes([n]) * 10 for n, (*_, target) in enumerate(staged))
    key, etag, size, _ = staged[0]  # evicted first: downloaded again when asked for
    cache.stage(BUCKET, key, etag, size, tmp_path / "again" / "0.gz")
    assert cache.downloads == 5


def test_a_missing_object_raises_and_leaves_nothing_behind(s3, tmp_path):
    cache = ObjectCache(s3, tmp_path / "cache")
    with pytest.raises(s3.exceptions.NoSuchKey):
        cache.stage(BUCKET, "raw/gone.gz", '"x"', 1, tmp_path / "q" / "gone.gz")
    assert not [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
