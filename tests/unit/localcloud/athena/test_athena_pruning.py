"""Partition pruning from the WHERE clause: which partition values a table reference may read."""

import datetime as dt

import pytest

from localcloud.athena.pruning import PartitionFilter, filter_for
from localcloud.athena.sql import parse_statement, table_references

COLUMNS = ["dt", "hour", "$path"]


def prune(sql: str, table: str = "raw", columns=COLUMNS) -> PartitionFilter:
    query = parse_statement(sql).query
    (reference,) = [t for t in table_references(query) if t.name == table]
    return filter_for(reference, columns)


def allowed(partition_filter: PartitionFilter, column: str, values):
    return [value for value in values if partition_filter.accepts(column, value)]


DAYS = ["2024-02-29", "2024-03-01", "2024-03-02", "2024-03-03"]


def test_equality_and_in_keep_only_the_named_partitions():
    found = prune("SELECT * FROM raw WHERE dt = '2024-03-01' AND hour IN (7, 13)")
    assert allowed(found, "dt", DAYS) == ["2024-03-01"]
    assert allowed(found, "hour", range(24)) == [7, 13]
    assert found.equality_values("hour") == {7, 13}


def test_literal_on_the_left_and_ranges():
    found = prune("SELECT * FROM raw WHERE '2024-03-01' <= dt AND dt < '2024-03-03' AND hour > 20")
    assert allowed(found, "dt", DAYS) == ["2024-03-01", "2024-03-02"]
    assert allowed(found, "hour", range(24)) == [21, 22, 23]
    assert found.equality_values("dt") is None


def test_between_is_inclusive():
    found = prune("SELECT * FROM raw WHERE hour BETWEEN 3 AND 5")
    assert allowed(found, "hour", range(24)) == [3, 4, 5]


def test_or_of_equalities_on_one_column():
    found = prune("SELECT * FROM raw WHERE (dt = '2024-03-01' OR dt = '2024-03-03')")
    assert allowed(found, "dt", DAYS) == ["2024-03-01", "2024-03-03"]
    assert found.equality_values("dt") == {"2024-03-01", "2024-03-03"}


def test_or_of_conjunctions_prunes_each_column_to_what_any_branch_allows():
    found = prune(
        "SELECT * FROM raw WHERE ((dt = '2024-03-01' AND hour IN (1, 2)) "
        "OR (dt = '2024-03-02' AND hour IN (3))) AND \"$path\" IN ('s3://b/k1', 's3://b/k2')"
    )
    assert allowed(found, "dt", DAYS) == ["2024-03-01", "2024-03-02"]
    assert allowed(found, "hour", range(24)) == [1, 2, 3]
    assert found.equality_values("$path") == {"s3://b/k1", "s3://b/k2"}


def test_an_or_that_leaves_a_column_free_does_not_prune_it():
    found = prune("SELECT * FROM raw WHERE dt = '2024-03-01' OR hour = 3")
    assert allowed(found, "dt", DAYS) == DAYS
    assert allowed(found, "hour", range(3)) == [0, 1, 2]


@pytest.mark.parametrize(
    "where",
    [
        "substr(dt, 1, 4) = '2024'",  # a function of the column
        "dt = other_column",  # not a literal
        "dt IN (SELECT d FROM days)",  # a subquery
        "NOT dt = '2024-03-01'",
        "dt <> '2024-03-01'",
    ],
)
def test_conditions_it_does_not_understand_keep_everything(where):
    found = prune(f"SELECT * FROM raw WHERE {where}")
    assert allowed(found, "dt", DAYS) == DAYS


def test_qualified_columns_belong_to_their_alias_only():
    found = prune("SELECT * FROM raw r JOIN other o ON r.seq = o.seq WHERE o.dt = '2024-03-01'")
    assert allowed(found, "dt", DAYS) == DAYS
    found = prune("SELECT * FROM raw r WHERE r.dt = '2024-03-01'")
    assert allowed(found, "dt", DAYS) == ["2024-03-01"]


def test_only_the_where_of_the_select_reading_the_table_counts():
    sql = "SELECT * FROM (SELECT * FROM raw WHERE hour = 1) AS inner_rows WHERE dt = '2024-03-01'"
    found = prune(sql)
    assert allowed(found, "hour", range(3)) == [1]
    assert allowed(found, "dt", DAYS) == DAYS


def test_a_correlated_subquery_prunes_its_own_table():
    sql = (
        "SELECT * FROM raw r WHERE NOT EXISTS (SELECT 1 FROM compacted c "
        "WHERE c.dt = '2024-03-02' AND c.seq = r.seq)"
    )
    compacted = prune(sql, table="compacted")
    assert allowed(compacted, "dt", DAYS) == ["2024-03-02"]
    assert allowed(prune(sql), "dt", DAYS) == DAYS


def test_numbers_and_strings_compare_by_value_when_types_differ():
    found = prune("SELECT * FROM raw WHERE hour = '07'")
    assert allowed(found, "hour", range(24)) == [7]
    found = prune("SELECT * FROM raw WHERE hour = 7")
    assert allowed(found, "hour", ["06", "07", "7"]) == ["07", "7"]


def test_date_literals_compare_with_date_and_string_partitions():
    found = prune("SELECT * FROM raw WHERE dt >= DATE '2024-03-02'")
    assert allowed(found, "dt", DAYS) == ["2024-03-02", "2024-03-03"]
    days = [dt.date(2024, 3, day) for day in (1, 2, 3)]
    assert allowed(found, "dt", days) == days[1:]


def test_a_literal_that_cannot_be_compared_keeps_the_partition():
    found = prune("SELECT * FROM raw WHERE hour = 'seven'")
    assert allowed(found, "hour", [1, 2]) == [1, 2]


def test_negative_numbers_and_casts():
    found = prune("SELECT * FROM raw WHERE hour > -1 AND hour < CAST('2' AS integer)")
    assert allowed(found, "hour", range(-3, 4)) == [0, 1]


def test_no_where_no_pruning():
    found = prune("SELECT count(*) FROM raw")
    assert not found.constrains("dt")
    assert found.equality_values("$path") is None
