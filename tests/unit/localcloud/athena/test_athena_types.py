"""Types of the local Athena: Glue types read by DuckDB, result types and text as Athena shows."""

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from localcloud.athena.dates import convert
from localcloud.athena.types import (
    ResultColumn,
    UnsupportedTypeError,
    duckdb_type,
    hive_type,
    java_double,
    presto_type,
    render,
)


@pytest.mark.parametrize(
    ("hive", "duck"),
    [
        ("string", "VARCHAR"),
        ("int", "INTEGER"),
        ("bigint", "BIGINT"),
        ("double", "DOUBLE"),
        ("timestamp", "TIMESTAMP"),
        ("varchar(64)", "VARCHAR"),
        ("decimal(10,2)", "DECIMAL(10, 2)"),
        ("decimal", "DECIMAL(10, 0)"),
        ("char(3)", "VARCHAR"),
        ("array<struct<a:string>>", 'STRUCT("a" VARCHAR)[]'),
        ("array<string>", "VARCHAR[]"),
        ("map<string,int>", "MAP(VARCHAR, INTEGER)"),
        ("struct<a:int,b:array<double>>", 'STRUCT("a" INTEGER, "b" DOUBLE[])'),
    ],
)
def test_glue_types_map_to_duckdb_types(hive, duck):
    assert duckdb_type(hive) == duck
    duckdb.sql(f"SELECT CAST(NULL AS {duck})")  # DuckDB accepts it


@pytest.mark.parametrize("hive", ["uniontype<int,string>", "array<string", "geometry"])
def test_unknown_glue_types_are_rejected(hive):
    with pytest.raises(UnsupportedTypeError):
        duckdb_type(hive)


def result_types(sql: str) -> list:
    return list(duckdb.sql(sql).types)


def test_result_columns_carry_athena_types():
    types = result_types(
        "SELECT 1::BIGINT, 1::INTEGER, 1.5::DOUBLE, 'x', TRUE, DATE '2024-01-01', "
        "TIMESTAMP '2024-01-01 00:00:00', 1.25::DECIMAL(5,2), ['a'], sum(1::BIGINT)"
    )
    infos = [ResultColumn.of(f"c{i}", t).column_info() for i, t in enumerate(types)]
    assert [info["Type"] for info in infos] == [
        "bigint",
        "integer",
        "double",
        "varchar",
        "boolean",
        "date",
        "timestamp",
        "decimal",
        "array",
        "bigint",
    ]
    assert (infos[7]["Precision"], infos[7]["Scale"]) == (5, 2)
    assert infos[3]["CaseSensitive"] is True
    assert infos[0]["Name"] == infos[0]["Label"] == "c0"


def test_ctas_column_types_and_the_time_zone_restriction():
    types = result_types(
        "SELECT 'x', 1::BIGINT, sum(1::BIGINT), ['a'], {'k': 1.5::DOUBLE}, "
        "TIMESTAMP '2024-01-01', 1.5::DECIMAL(4,1)"
    )
    assert [hive_type(t) for t in types] == [
        "string",
        "bigint",
        "bigint",
        "array<string>",
        "struct<k:double>",
        "timestamp",
        "decimal(4,1)",
    ]
    (with_zone,) = result_types("SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00'")
    with pytest.raises(UnsupportedTypeError, match=r"timestamp\(3\) with time zone"):
        hive_type(with_zone)
    assert presto_type(with_zone) == "timestamp(3) with time zone"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (True, "true"),
        (42, "42"),
        (21.5, "21.5"),
        (100.0, "100.0"),
        (1.0e7, "1.0E7"),
        (1.234e-5, "1.234E-5"),
        (-2.5e10, "-2.5E10"),
        (float("nan"), "NaN"),
        (Decimal("1.50"), "1.50"),
        ("x", "x"),
        (dt.date(2024, 3, 1), "2024-03-01"),
        (dt.datetime(2024, 3, 1, 13, 45, 12, 345678), "2024-03-01 13:45:12.345"),
        (dt.datetime(2024, 3, 1, 13, 45, tzinfo=dt.UTC), "2024-03-01 13:45:00.000 UTC"),
        (["a", None, "b"], "[a, null, b]"),
        ({"k": 1, "v": "x"}, "{k=1, v=x}"),
    ],
)
def test_values_render_as_athena_text(value, text):
    assert render(value) == text


def test_java_double_matches_java_for_large_and_small_values():
    assert java_double(1234567.0) == "1234567.0"
    assert java_double(12340000.0) == "1.234E7"
    assert java_double(0.001) == "0.001"
    assert java_double(0.0001) == "1.0E-4"


def test_java_patterns_convert_to_strftime_and_regex():
    pattern = convert("yyyy-MM-dd'T'HH:mm:ss.SSS")
    assert pattern.duckdb == "%Y-%m-%dT%H:%M:%S.%g"
    assert pattern.regex == r"\d{4}\-\d{2}\-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}"
    assert convert("yyyy/MM/dd").python == "%Y/%m/%d"
    assert convert("yyyy-MM-dd").finest_unit == "DAYS"
    assert convert("yyyy-MM-dd-HH").finest_unit == "HOURS"
    assert convert("'it''s' yyyy").duckdb == "it's %Y"
    with pytest.raises(ValueError, match="letter 'Q'"):
        convert("yyyy-QQ")
