"""The Athena SQL of a batch: which reading dates it holds, and one CTAS per reading date.

Both queries read only the batch's objects (`"$path" IN (...)`) and only their `dt`/`hour`
partitions of the raw table, so a batch costs the same whatever the history. `hour` is the raw
table's integer partition projection (two digits in the path), compared as an integer.

The discover query returns the batch's distinct reading seconds (see compactor/coverage.py). The
CTAS types the rows (`ts` and `arrival_ts` as timestamps, measurements as doubles), keeps one row
per (device_id, seq) within the batch, and drops readings that other batches have compacted
already - reading only the files of the batches whose seconds meet this batch's (`"$path" IN`),
never the whole `dt` partition. With no such batch there is no anti-join at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from compactor.batches import BATCH_ID, Batch

READING_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IDENTIFIER = re.compile(r"^[a-z0-9_]+$")
MEASUREMENTS = (
    "temperature",
    "humidity",
    "pressure",
    "cpu_temp",
    "temperature_raw",
    "pitch",
    "roll",
    "yaw",
)
COMPACTED_COLUMNS = (
    "device_id",
    "seq",
    "ts",
    *MEASUREMENTS,
    "flags",
    "arrival_ts",
    "batch_id",
)
PARQUET_COMPRESSION = "ZSTD"
# Athena takes a query string of at most 262,144 bytes; beyond this many files (an S3 URI is
# about 130 characters) the anti-join reads the reading date's whole partition instead.
MAX_PINNED_FILES = 1500
# The stack grants Glue access to temporary tables by this prefix (cdk_app/compaction.py).
TEMP_TABLE_PREFIX = "tmp_compaction_"


@dataclass(frozen=True)
class Tables:
    database: str
    raw: str
    compacted: str

    def __post_init__(self) -> None:
        for name in (self.database, self.raw, self.compacted):
            _identifier(name)


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a lower-case Glue name")
    return f'"{name}"'


def table_ref(database: str, table: str) -> str:
    return f"{_identifier(database)}.{_identifier(table)}"


def batch_filter(batch: Batch) -> str:
    """The WHERE clause that reads exactly the batch's objects from their partitions only."""
    partitions = " OR ".join(
        f"(dt = {literal(dt)} AND hour IN ({', '.join(str(h) for h in hours)}))"
        for dt, hours in batch.partitions.items()
    )
    paths = ",\n    ".join(literal(obj.path) for obj in batch.objects)
    return f'({partitions})\n  AND "$path" IN (\n    {paths}\n  )'


def discover_sql(batch: Batch, tables: Tables) -> str:
    """The reading seconds (UTC, `YYYY-MM-DDTHH:MM:SS` from `ts`) of the batch's readings."""
    return (
        "SELECT DISTINCT substr(ts, 1, 19) AS reading_second\n"
        f"FROM {table_ref(tables.database, tables.raw)}\n"
        f"WHERE {batch_filter(batch)}\n"
        "ORDER BY 1"
    )


def temporary_table(batch_id: str, reading_date: str) -> str:
    """The CTAS's own table: unique per batch and reading date, dropped after the query."""
    _check(batch_id, reading_date)
    suffix = batch_id.lower().replace("-", "_")
    return f"{TEMP_TABLE_PREFIX}{suffix}_{reading_date.replace('-', '')}"


def output_prefix(compacted_prefix: str, batch_id: str, reading_date: str) -> str:
    """`compacted/dt=<reading date>/batch=<batch id>/`: the Parquet of one CTAS of a batch."""
    _check(batch_id, reading_date)
    return f"{compacted_prefix}dt={reading_date}/batch={batch_id}/"


def ctas_sql(batch: Batch, reading_date: str, tables: Tables, colliding: Sequence[str] = ()) -> str:
    """CREATE TABLE AS SELECT: the batch's readings of one date as Parquet.

    `colliding` are the compacted files (S3 URIs) of other batches that hold readings of the same
    seconds: the only rows a reading of this batch can be a duplicate of.

    No `external_location`: the workgroup enforces its result location, and Athena refuses a CTAS
    that names one there. The table lands in `<result location>tables/<query id>/`; the runner
    copies its files into the batch's folder.
    """
    _check(batch.batch_id, reading_date)
    measurements = ",\n  ".join(f"CAST(r.{m} AS double) AS {m}" for m in MEASUREMENTS)
    temp = table_ref(tables.database, temporary_table(batch.batch_id, reading_date))
    compacted = table_ref(tables.database, tables.compacted)
    return f"""CREATE TABLE {temp}
WITH (
  format = 'PARQUET',
  write_compression = '{PARQUET_COMPRESSION}'
) AS
WITH batch_rows AS (
  SELECT
    device_id, seq, ts, {", ".join(MEASUREMENTS)}, flags, arrival_ms,
    row_number() OVER (PARTITION BY device_id, seq ORDER BY arrival_ms) AS copy_number
  FROM {table_ref(tables.database, tables.raw)}
  WHERE {batch_filter(batch)}
    AND substr(ts, 1, 10) = {literal(reading_date)}
)
SELECT
  r.device_id,
  CAST(r.seq AS bigint) AS seq,
  CAST(from_iso8601_timestamp(r.ts) AS timestamp) AS ts,
  {measurements},
  CAST(r.flags AS array(varchar)) AS flags,
  CAST(from_unixtime(CAST(r.arrival_ms AS double) / 1000) AS timestamp) AS arrival_ts,
  {literal(batch.batch_id)} AS batch_id
FROM batch_rows AS r
WHERE r.copy_number = 1{anti_join(compacted, reading_date, batch.batch_id, colliding)}"""


def anti_join(compacted: str, reading_date: str, batch_id: str, colliding: Sequence[str]) -> str:
    """Leave out readings held by the colliding files; nothing to leave out without them.

    So many files that the query would grow too long (a batch holding readings of a whole day,
    at a large fleet) are not named: the anti-join then reads the date's partition, as it did
    before the index existed - correct, only dearer.
    """
    if not colliding:
        return ""
    files = sorted(set(colliding))
    pinned = ""
    if len(files) <= MAX_PINNED_FILES:
        paths = ",\n        ".join(literal(path) for path in files)
        pinned = f"""
      AND c."$path" IN (
        {paths}
      )"""
    return f"""
  AND NOT EXISTS (
    SELECT 1
    FROM {compacted} AS c
    WHERE c.dt = {literal(reading_date)}{pinned}
      AND c.batch_id <> {literal(batch_id)}
      AND c.device_id = r.device_id
      AND c.seq = CAST(r.seq AS bigint)
  )"""


def _check(batch_id: str, reading_date: str) -> None:
    if not BATCH_ID.match(batch_id):
        raise ValueError(f"{batch_id!r} is not a batch id")
    if not READING_DATE.match(reading_date):
        raise ValueError(f"{reading_date!r} is not a reading date (YYYY-MM-DD)")
