"""The files around a batch: its CTAS table and output, the batch's folder, its raw objects.

- The workgroup enforces its result location, so a CTAS may not name an `external_location`:
  Athena writes the table to `<result location>tables/<query id>/` and registers it in Glue. The
  compactor reads that location from Glue and copies the files (server-side) into the batch's
  folder `compacted/dt=<date>/batch=<id>/`, after deleting whatever an interrupted copy left there.
- Dropping the temporary table removes only its Glue entry; its files in the results bucket are
  then deleted (the copies in the batch's folder stay).
- After a batch has succeeded its raw objects are tagged `compacted=true`; the bucket's lifecycle
  rule expires only tagged raw objects, so raw data leaves only after it has been compacted.
"""

from __future__ import annotations

from typing import Any, Protocol

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
# The tag the data bucket's lifecycle rule filters on (cdk_app/storage.py COMPACTED_TAG).
COMPACTED_TAG = ("compacted", "true")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` -> (`bucket`, `a/b/`); the prefix always ends with `/`."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket or not prefix:
        raise ValueError(f"{uri!r} names no folder in a bucket")
    return bucket, prefix if prefix.endswith("/") else prefix + "/"


def is_data_file(key: str) -> bool:
    """Hive and Athena skip files whose name starts with `_` or `.`; so does the copy."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


class BatchFiles(Protocol):
    def table_location(self, database: str, table: str) -> str | None:
        """The S3 location of a table, None if the table does not exist."""
        ...

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under the prefix; how many were deleted."""
        ...

    def copy_prefix(self, source: str, bucket: str, prefix: str) -> int:
        """Copy the data files under the `source` URI to `bucket/prefix`; how many."""
        ...

    def drop_table(self, database: str, table: str) -> bool:
        """Drop the table if it exists; whether it existed."""
        ...

    def list_files(self, bucket: str, prefix: str) -> list[str]:
        """The keys of the data files under the prefix."""
        ...

    def tag_compacted(self, bucket: str, key: str) -> bool:
        """Add the compacted tag to a raw object (keeping its other tags); False if it is gone."""
        ...


class AwsBatchFiles:
    """BatchFiles over boto3's S3 and Glue clients."""

    def __init__(self, s3: Any, glue: Any) -> None:
        self._s3 = s3
        self._glue = glue

    def table_location(self, database: str, table: str) -> str | None:
        try:
            response = self._glue.get_table(DatabaseName=database, Name=table)
        except self._glue.exceptions.EntityNotFoundException:
            return None
        return str(response["Table"]["StorageDescriptor"]["Location"])

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        if not prefix.endswith("/") or prefix.count("/") < 2:
            raise ValueError(f"refusing to delete under {prefix!r}: not a table's folder")
        deleted = 0
        for keys in self._pages(bucket, prefix):
            for start in range(0, len(keys), DELETE_BATCH):
                chunk = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
                response = self._s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}
                )
                errors = response.get("Errors", [])
                if errors:
                    raise RuntimeError(f"could not delete under s3://{bucket}/{prefix}: {errors}")
                deleted += len(chunk)
        return deleted

    def copy_prefix(self, source: str, bucket: str, prefix: str) -> int:
        source_bucket, source_prefix = split_s3_uri(source)
        copied = 0
        for keys in self._pages(source_bucket, source_prefix):
            for key in filter(is_data_file, keys):
                self._s3.copy_object(
                    Bucket=bucket,
                    Key=prefix + key[len(source_prefix) :],
                    CopySource={"Bucket": source_bucket, "Key": key},
                )
                copied += 1
        return copied

    def list_files(self, bucket: str, prefix: str) -> list[str]:
        return [key for keys in self._pages(bucket, prefix) for key in keys if is_data_file(key)]

    def drop_table(self, database: str, table: str) -> bool:
        try:
            self._glue.delete_table(DatabaseName=database, Name=table)
        except self._glue.exceptions.EntityNotFoundException:
            return False
        return True

    def tag_compacted(self, bucket: str, key: str) -> bool:
        try:
            tags = self._s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        except self._s3.exceptions.NoSuchKey:
            return False
        name, value = COMPACTED_TAG
        if {"Key": name, "Value": value} in tags:
            return True
        kept = [tag for tag in tags if tag["Key"] != name]
        self._s3.put_object_tagging(
            Bucket=bucket, Key=key, Tagging={"TagSet": [*kept, {"Key": name, "Value": value}]}
        )
        return True

    def _pages(self, bucket: str, prefix: str) -> Any:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            yield [item["Key"] for item in page.get("Contents", [])]
