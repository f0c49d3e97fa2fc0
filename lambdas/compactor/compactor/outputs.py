"""A CTAS's leftovers: its output folder (must be empty before the CTAS runs) and its table.

Dropping the temporary table of a CTAS removes only its Glue catalog entry (the table is
EXTERNAL); the Parquet files stay and are read through the compacted table.
"""

from __future__ import annotations

from typing import Any, Protocol

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class CtasOutputs(Protocol):
    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under the prefix; how many were deleted."""
        ...

    def drop_table(self, database: str, table: str) -> bool:
        """Drop the table if it exists; whether it existed."""
        ...


class S3GlueOutputs:
    """CtasOutputs over boto3's S3 and Glue clients."""

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
