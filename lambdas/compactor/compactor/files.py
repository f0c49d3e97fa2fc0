"""The files around a batch: its CTAS output folder and temporary table, and its raw objects.

- The output folder of a CTAS must be empty before the CTAS runs: an earlier attempt's partial
  output is deleted first.
- Dropping the temporary table of a CTAS removes only its Glue catalog entry (the table is
  EXTERNAL); the Parquet files stay and are read through the compacted table.
- After a batch has succeeded its raw objects are tagged `compacted=true`; the bucket's lifecycle
  rule expires only tagged raw objects, so raw data leaves only after it has been compacted.
"""

from __future__ import annotations

from typing import Any, Protocol

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
# The tag the data bucket's lifecycle rule filters on (cdk_app/storage.py COMPACTED_TAG).
COMPACTED_TAG = ("compacted", "true")


class BatchFiles(Protocol):
    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under the prefix; how many were deleted."""
        ...

    def drop_table(self, database: str, table: str) -> bool:
        """Drop the table if it exists; whether it existed."""
        ...

    def tag_compacted(self, bucket: str, key: str) -> bool:
        """Add the compacted tag to a raw object (keeping its other tags); False if it is gone."""
        ...


class AwsBatchFiles:
    """BatchFiles over boto3's S3 and Glue clients."""

    def __init__(self, s3: Any, glue: Any) -> None:
        self._s3 = s3
        self._glue = glue

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        if not prefix.endswith("/") or prefix.count("/") < 3:
            raise ValueError(f"refusing to delete under {prefix!r}: not a batch's output folder")
        deleted = 0
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), DELETE_BATCH):
                chunk = keys[start : start + DELETE_BATCH]
                response = self._s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}
                )
                errors = response.get("Errors", [])
                if errors:
                    raise RuntimeError(f"could not delete partial output under {prefix}: {errors}")
                deleted += len(chunk)
        return deleted

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
