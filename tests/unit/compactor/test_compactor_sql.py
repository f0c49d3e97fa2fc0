"""The batch's SQL: valid Trino, reads only the batch's objects and partitions, dedups, types."""

import pytest
import sqlglot
from compactor_events import raw_object
from sqlglot import exp

from compactor.batches import Batch
from compactor.sql import (
    COMPACTED_COLUMNS,
    Tables,
    ctas_sql,
    discover_sql,
    literal,
    output_prefix,
    temporary_table,
)

TABLES = Tables("sensor_pipeline", "raw_readings", "compacted_readings")
BATCH_ID = "20261122T120000Z-0a1b2c3d"


def batch(*objects):
    return Batch(BATCH_ID, tuple(objects), "threshold", "2026-11-22T12:00:00+00:00")


OBJECTS = (
    raw_object(1, dt="2026-11-22", hour=23),
    raw_object(2, dt="2026-11-23", hour=0),
    raw_object(3, dt="2026-11-23", hour=0),
    raw_object(4, dt="2026-11-23", hour=1),
)


def raw_scans(tree):
    """The WHERE clauses of every SELECT whose FROM is the raw table."""
    for select in tree.find_all(exp.Select):
        source = select.find(exp.From)
        if source is not None and source.parent is select and source.this.name == "raw_readings":
            yield select.args["where"]


def test_discover_reads_only_the_batch_paths_and_partitions():
    sql = discover_sql(batch(*OBJECTS), TABLES)
    tree = sqlglot.parse_one(sql, read="trino")
    [where] = list(raw_scans(tree))
    ins = list(where.find_all(exp.In))
    path_in = next(i for i in ins if i.this.name == "$path")
    assert {e.this for e in path_in.expressions} == {o.path for o in OBJECTS}
    hour_ins = [i for i in ins if i.this.name == "hour"]
    assert sorted(tuple(int(e.this) for e in i.expressions) for i in hour_ins) == [(0, 1), (23,)]
    assert "(dt = '2026-11-22' AND hour IN (23))" in sql
    assert "(dt = '2026-11-23' AND hour IN (0, 1))" in sql


def test_ctas_is_valid_trino_parquet_without_a_location_and_has_the_compacted_columns():
    assert output_prefix("compacted/", BATCH_ID, "2026-11-23") == (
        f"compacted/dt=2026-11-23/batch={BATCH_ID}/"
    )
    sql = ctas_sql(batch(*OBJECTS), "2026-11-23", TABLES)
    tree = sqlglot.parse_one(sql, read="trino")
    assert isinstance(tree, exp.Create)
    assert tree.this.name == temporary_table(BATCH_ID, "2026-11-23")
    assert tree.find(exp.FileFormatProperty).this.this == "PARQUET"
    properties = {p.name.lower(): p.text("value") for p in tree.find_all(exp.Property)}
    assert properties["write_compression"] in {"ZSTD", "SNAPPY"}
    # The workgroup enforces its result location: Athena fails a CTAS that names a location.
    assert "external_location" not in properties
    select = tree.expression
    assert tuple(select.named_selects) == COMPACTED_COLUMNS
    assert "dt" not in select.named_selects  # the partition comes from the folder
    [where] = list(raw_scans(tree))
    assert "substr(ts, 1, 10) = '2026-11-23'" in where.sql(dialect="trino").lower()


COLLIDING = (
    "s3://sensor-data/compacted/dt=2026-11-23/batch=20261123T000000Z-00000001/b.parquet",
    "s3://sensor-data/compacted/dt=2026-11-23/batch=20261123T000000Z-00000001/a.parquet",
)


def test_ctas_types_and_deduplicates_within_the_batch_and_against_the_colliding_files():
    sql = ctas_sql(batch(*OBJECTS), "2026-11-23", TABLES, COLLIDING)
    assert "row_number() OVER (PARTITION BY device_id, seq ORDER BY arrival_ms)" in sql
    assert "WHERE r.copy_number = 1" in sql
    assert "CAST(from_iso8601_timestamp(r.ts) AS timestamp) AS ts" in sql
    assert "CAST(r.pressure AS double) AS pressure" in sql
    # The anti-join reads only the files of other batches holding readings of the same minutes
    # (never the whole dt partition), and never this batch's own earlier output.
    tree = sqlglot.parse_one(sql, read="trino")
    [subquery] = [
        s for s in tree.find_all(exp.Select) if s.find(exp.From).this.name == "compacted_readings"
    ]
    where = subquery.args["where"]
    [path_in] = [i for i in where.find_all(exp.In) if i.this.name == "$path"]
    assert [e.this for e in path_in.expressions] == sorted(COLLIDING)
    assert "c.dt = '2026-11-23'" in sql
    assert f"c.batch_id <> '{BATCH_ID}'" in sql
    assert "c.device_id = r.device_id" in sql


def test_too_many_colliding_files_read_the_reading_dates_partition_instead():
    many = [
        f"s3://sensor-data/compacted/dt=2026-11-23/batch=b{i:05d}/f.parquet" for i in range(1501)
    ]
    sql = ctas_sql(batch(*OBJECTS), "2026-11-23", TABLES, many)
    assert len(sql) < 262_144
    assert '"$path"' not in sql.split("NOT EXISTS")[1]
    assert "c.dt = '2026-11-23'" in sql
    assert f"c.batch_id <> '{BATCH_ID}'" in sql
    assert len(ctas_sql(batch(*OBJECTS), "2026-11-23", TABLES, many[:1500])) < 262_144


def test_without_colliding_files_the_ctas_reads_no_compacted_data():
    sql = ctas_sql(batch(*OBJECTS), "2026-11-23", TABLES)
    assert "NOT EXISTS" not in sql
    assert "compacted_readings" not in sql
    assert sqlglot.parse_one(sql, read="trino").find(exp.Create) is not None


def test_discover_returns_the_reading_seconds():
    sql = discover_sql(batch(*OBJECTS), TABLES)
    assert sql.startswith("SELECT DISTINCT substr(ts, 1, 19) AS reading_second")


def test_quotes_in_keys_are_escaped():
    odd = raw_object(9)
    odd = type(odd)(odd.bucket, odd.key.replace(".gz", "'x.gz"), odd.dt, odd.hour, odd.event_time)
    sql = discover_sql(batch(odd), TABLES)
    assert literal(odd.path) in sql
    tree = sqlglot.parse_one(sql, read="trino")
    path_in = next(i for i in tree.find_all(exp.In) if i.this.name == "$path")
    assert [e.this for e in path_in.expressions] == [odd.path]


def test_temporary_table_names_are_unique_per_batch_and_date_and_glue_safe():
    a = temporary_table(BATCH_ID, "2026-11-22")
    b = temporary_table(BATCH_ID, "2026-11-23")
    c = temporary_table("20261122T120000Z-ffffffff", "2026-11-22")
    assert len({a, b, c}) == 3
    assert a == "tmp_compaction_20261122t120000z_0a1b2c3d_20261122"


@pytest.mark.parametrize(("batch_id", "date"), [("x'; DROP", "2026-11-22"), (BATCH_ID, "22/11")])
def test_bad_batch_ids_and_dates_never_reach_sql(batch_id, date):
    with pytest.raises(ValueError, match="is not a"):
        output_prefix("compacted/", batch_id, date)


def test_tables_reject_names_that_are_not_glue_names():
    with pytest.raises(ValueError, match="Glue name"):
        Tables("db", 'raw"; --', "c")
