"""Athena SQL in the local Athena: statement classification, CTAS properties, and the translation
to DuckDB, checked by running the translated SQL in DuckDB and comparing with Trino semantics."""

import duckdb
import pytest
import sqlglot

from localcloud.athena.sql import (
    DUCKDB_SETUP,
    QueryError,
    name_unnamed_columns,
    output_name,
    parse_statement,
    qualified_name,
    table_references,
    to_duckdb,
)


@pytest.fixture
def duck():
    connection = duckdb.connect()
    for statement in DUCKDB_SETUP:
        connection.execute(statement)
    yield connection
    connection.close()


def run(duck, athena_sql: str) -> list[tuple]:
    """Translate an Athena query and run it in DuckDB."""
    statement = parse_statement(athena_sql)
    return duck.sql(to_duckdb(statement.query)).fetchall()


def one(duck, expression: str):
    return run(duck, f"SELECT {expression}")[0][0]


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "kind", "statement_type", "substatement"),
    [
        ("SELECT 1", "SELECT", "DML", "SELECT"),
        ("WITH a AS (SELECT 1 AS x) SELECT x FROM a", "SELECT", "DML", "SELECT"),
        ("SELECT 1 UNION ALL SELECT 2", "SELECT", "DML", "SELECT"),
        ("CREATE TABLE t AS SELECT 1 AS a", "CTAS", "DDL", "CREATE_TABLE_AS_SELECT"),
    ],
)
def test_statements_are_classified_as_athena_reports_them(sql, kind, statement_type, substatement):
    statement = parse_statement(sql)
    assert statement.kind == kind
    assert statement.statement_type == statement_type
    assert statement.substatement_type == substatement


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE OR REPLACE VIEW v AS SELECT 1 AS a",
        "DROP TABLE IF EXISTS t",
        "DROP VIEW v",
        "CREATE DATABASE sensors",
    ],
)
def test_statements_nothing_sends_are_refused_by_name(sql):
    with pytest.raises(QueryError, match=r"^NOT_SUPPORTED: .* not '(CREATE|DROP) "):
        parse_statement(sql)


def test_a_syntax_error_names_the_position():
    with pytest.raises(QueryError, match=r"^SYNTAX_ERROR: line 1:\d+"):
        parse_statement("SELEC 1")


def test_only_one_statement_is_allowed():
    with pytest.raises(QueryError, match="Only one sql statement is allowed"):
        parse_statement("SELECT 1; SELECT 2")


def test_a_trailing_semicolon_is_fine():
    assert parse_statement("SELECT 1;").kind == "SELECT"


@pytest.mark.parametrize("sql", ["INSERT INTO t SELECT 1", "SHOW TABLES", "MSCK REPAIR TABLE t"])
def test_unsupported_statements_fail_with_a_reason(sql):
    with pytest.raises(QueryError, match=r"^NOT_SUPPORTED: "):
        parse_statement(sql)


# --- CTAS properties ---------------------------------------------------------------------------


def test_ctas_properties_are_read_from_the_with_clause():
    statement = parse_statement(
        "CREATE TABLE db.c WITH (format = 'PARQUET', write_compression = 'ZSTD', "
        "external_location = 's3://bucket/compacted/dt=2024-01-01/batch=b1/', "
        "partitioned_by = ARRAY['dt', 'hour']) AS SELECT 1 AS a, '2024-01-01' AS dt, 1 AS hour"
    )
    assert statement.ctas.format == "PARQUET"
    assert statement.ctas.compression == "ZSTD"
    assert statement.ctas.external_location == "s3://bucket/compacted/dt=2024-01-01/batch=b1/"
    assert statement.ctas.partitioned_by == ("dt", "hour")
    assert qualified_name(statement.target, "default") == ("db", "c")


def test_ctas_defaults_follow_athena():
    statement = parse_statement("CREATE TABLE c AS SELECT 1 AS a")
    assert statement.ctas.format == "PARQUET"
    assert statement.ctas.compression == "GZIP"
    assert statement.ctas.external_location is None
    assert statement.ctas.partitioned_by == ()


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ("format = 'ORC'", "PARQUET only"),
        ("table_type = 'ICEBERG'", "does not create ICEBERG"),
        ("write_compression = 'BROTLI9'", "unsupported write_compression"),
    ],
)
def test_ctas_properties_the_local_engine_cannot_honour_fail(props, message):
    with pytest.raises(QueryError, match=message):
        parse_statement(f"CREATE TABLE c WITH ({props}) AS SELECT 1 AS a")


# --- names --------------------------------------------------------------------------------------


def test_table_references_skip_ctes_and_keep_qualified_tables():
    statement = parse_statement(
        "WITH recent AS (SELECT * FROM sensors.raw WHERE dt = '2024-01-01') "
        "SELECT * FROM recent JOIN awsdatacatalog.sensors.devices d ON true"
    )
    names = [qualified_name(table, "default") for table in table_references(statement.query)]
    assert sorted(names) == [("sensors", "devices"), ("sensors", "raw")]


def test_unqualified_tables_use_the_query_database_and_lower_case():
    table = table_references(parse_statement("SELECT * FROM Raw").query)[0]
    assert qualified_name(table, "sensors") == ("sensors", "raw")


def test_other_catalogs_are_rejected():
    table = table_references(parse_statement("SELECT * FROM lambda_cat.db.t").query)[0]
    with pytest.raises(QueryError, match="CATALOG_NOT_FOUND"):
        qualified_name(table, "default")


def test_unnamed_columns_are_named_by_position_like_trino(duck):
    query = parse_statement("SELECT 1 + 1, 2 AS two, count(*) FROM (VALUES 1) AS t(x)").query
    assert name_unnamed_columns(query) == [0, 2]
    relation = duck.sql(to_duckdb(query))
    names = [output_name(name, position) for position, name in enumerate(relation.columns)]
    assert names == ["_col0", "two", "_col2"]


def test_output_names_are_lower_case():
    assert output_name("AvgTemp", 0) == "avgtemp"


# --- translation (run in DuckDB) ----------------------------------------------------------------


def test_integer_division_truncates_like_trino(duck):
    assert one(duck, "7 / 2") == 3
    assert one(duck, "7.0 / 2") == pytest.approx(3.5)
    assert one(duck, "CAST(7 AS double) / 2") == 3.5


def test_from_iso8601_timestamp_and_date_functions(duck):
    ts = "from_iso8601_timestamp('2024-03-01T13:45:12.345Z')"
    assert one(duck, f"hour({ts})") == 13
    assert one(duck, f"minute({ts})") == 45
    assert one(duck, f"millisecond({ts})") == 345
    assert one(duck, f"date_format({ts}, '%Y-%m-%d %H:%i:%s')") == "2024-03-01 13:45:12"
    assert one(duck, f"format_datetime({ts}, 'yyyy-MM-dd''T''HH:mm')") == "2024-03-01T13:45"
    assert one(duck, f"to_iso8601({ts})") == "2024-03-01T13:45:12.345Z"
    assert one(duck, f"CAST(date_trunc('hour', {ts}) AS varchar)").startswith("2024-03-01 13:00")
    assert one(duck, f"day_of_week({ts})") == 5  # a Friday, ISO numbering as in Trino
    assert str(one(duck, f"CAST({ts} AS date)")) == "2024-03-01"


def test_parse_datetime_takes_java_patterns(duck):
    parsed = one(duck, "parse_datetime('2024-03-01 07', 'yyyy-MM-dd HH')")
    assert (parsed.year, parsed.month, parsed.day, parsed.hour) == (2024, 3, 1, 7)


def test_from_unixtime_and_date_arithmetic(duck):
    moment = one(duck, "from_unixtime(1709300712)")
    assert moment.isoformat().startswith("2024-03-01T13:45:12")
    assert (
        one(duck, "date_diff('hour', TIMESTAMP '2024-03-01 00:00', TIMESTAMP '2024-03-02 06:00')")
        == 30
    )
    added = one(duck, "date_add('day', 1, DATE '2024-02-28')")
    assert str(added)[:10] == "2024-02-29"


def test_aggregates_and_window_functions(duck):
    rows = run(
        duck,
        "WITH r AS (SELECT * FROM (VALUES ('a', 1, 10.0), ('a', 2, 20.0), ('b', 1, 5.0)) "
        "AS t(device, seq, temperature)) "
        "SELECT device, count(*) AS n, approx_percentile(temperature, 0.5) AS p50, "
        "max_by(seq, temperature) AS hottest, arbitrary(device) AS any_device, "
        "count_if(temperature > 6) AS warm FROM r GROUP BY device ORDER BY device",
    )
    assert [row[0] for row in rows] == ["a", "b"]
    assert [row[1] for row in rows] == [2, 1]
    assert rows[0][3] == 2
    assert [row[5] for row in rows] == [2, 0]
    ranked = run(
        duck,
        "SELECT seq, row_number() OVER (PARTITION BY device ORDER BY seq DESC) AS rn, "
        "lag(seq) OVER (PARTITION BY device ORDER BY seq) AS previous "
        "FROM (VALUES ('a', 1), ('a', 2)) AS t(device, seq) ORDER BY seq",
    )
    assert ranked == [(1, 2, None), (2, 1, 1)]


def test_arrays_and_unnest(duck):
    assert one(duck, "cardinality(ARRAY['x', 'y'])") == 2
    assert one(duck, "element_at(ARRAY['x', 'y'], 2)") == "y"
    assert one(duck, "contains(ARRAY['x', 'y'], 'y')") is True
    rows = run(
        duck, "SELECT flag FROM (VALUES 1) AS t(x) CROSS JOIN UNNEST(ARRAY['a', 'b']) AS u(flag)"
    )
    assert sorted(row[0] for row in rows) == ["a", "b"]


def test_regexp_and_string_functions(duck):
    path = "'s3://bucket/raw/dt=2024-03-01/hour=07/f.gz'"
    assert one(duck, f"regexp_extract({path}, 'hour=(\\d+)', 1)") == "07"
    assert one(duck, f"regexp_like({path}, 'dt=2024')") is True
    assert one(duck, f"split_part({path}, '/', 4)") == "raw"
    assert one(duck, "substr('2024-03-01T13:45:12.345Z', 1, 10)") == "2024-03-01"


def test_an_untranslatable_function_fails_with_a_reason():
    statement = parse_statement("SELECT reduce(ARRAY[1, 2], 0, (s, x) -> s + x, s -> s * 2)")
    with pytest.raises(QueryError, match=r"^NOT_SUPPORTED: "):
        to_duckdb(statement.query)


def test_a_bad_java_pattern_is_reported():
    statement = parse_statement("SELECT format_datetime(current_timestamp, 'yyyy-QQ')")
    with pytest.raises(QueryError, match="letter 'Q'"):
        to_duckdb(statement.query)


def test_translation_does_not_change_the_parsed_statement():
    statement = parse_statement("SELECT format_datetime(current_timestamp, 'yyyy') AS y")
    before = statement.query.sql(dialect="athena")
    to_duckdb(statement.query)
    assert statement.query.sql(dialect="athena") == before
    assert sqlglot.parse_one(before, read="athena") is not None
