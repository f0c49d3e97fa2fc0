"""Every athena/*.sql, deployed by the template as a named query, run through the local Athena
endpoint over the small lake of analytics_lake.py, with the answers worked out by hand there."""

import re

import pytest

from cdk_app.analytics import SQL_DIR, named_queries
from tests.unit.cdk_app.support import ROOT

pytestmark = pytest.mark.integration

SQL_FILES = sorted(path.stem for path in SQL_DIR.glob("*.sql"))


def by_device(rows, *keys):
    return {tuple(row[k] for k in ("device_id", *keys)): row for row in rows}


def test_every_sql_file_is_deployed_as_a_named_query(lake):
    deployed = lake.named_queries()
    assert set(deployed) == set(SQL_FILES)
    for name, _description, sql in named_queries():
        assert deployed[name] == sql


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_query_runs_on_the_local_athena(lake, name):
    rows = lake.query(lake.named_queries()[name])
    assert rows, f"{name} returned no rows"


def test_hourly_profile_per_device_and_overall(lake):
    rows = by_device(lake.query(lake.named_queries()["hourly_profile"]), "hour_of_day")
    assert rows[("pi-a", "10")] | {} == {
        "device_id": "pi-a",
        "hour_of_day": "10",
        "avg_temperature": "20.0",
        "avg_humidity": "40.0",
        "readings": "10",
    }
    assert rows[("pi-a", "11")]["avg_temperature"] == "22.41"  # 16 x 21.0 and the 45.0 spike
    assert rows[("pi-a", "11")]["readings"] == "17"
    assert rows[("pi-b", "8")]["avg_humidity"] == "60.0"
    overall = {h: r for (d, h), r in rows.items() if d == "(all devices)"}
    assert sorted(overall, key=int) == ["8", "10", "11"]
    assert sum(int(r["readings"]) for r in overall.values()) == 33


def test_hourly_trend_average_and_maximum(lake):
    rows = by_device(lake.query(lake.named_queries()["hourly_trend"]), "hour_start")
    spike = rows[("pi-a", "2025-06-30 11:00:00.000")]
    assert (spike["avg_temperature"], spike["max_temperature"]) == ("22.41", "45.0")
    assert (spike["avg_humidity"], spike["max_humidity"]) == ("50.0", "50.0")
    assert rows[("pi-b", "2025-07-01 08:00:00.000")]["readings"] == "6"
    assert len(rows) == 3


def test_alerts_per_day_device_metric_and_level(lake):
    rows = lake.query(lake.named_queries()["alerts_by_day"])
    assert [
        (r["day"], r["device_id"], r["metric"], r["level"], r["alerts"], r["max_value"])
        for r in rows
    ] == [
        ("2025-06-30", "pi-a", "humidity", "critical", "1", "66.5"),
        ("2025-06-30", "pi-a", "humidity", "warning", "3", "63.0"),  # 2 raised + 1 lowered
        ("2025-07-01", "pi-b", "temperature", "warning", "1", "27.5"),
    ]


def test_latest_reading_per_device(lake):
    rows = lake.query(lake.named_queries()["latest_per_device"])
    assert [(r["device_id"], r["seq"], r["ts"]) for r in rows] == [
        ("pi-a", "1027", "2025-06-30 11:02:50.000"),
        ("pi-b", "6", "2025-07-01 08:05:00.000"),
    ]


def test_gaps_against_the_expected_interval_and_in_seq(lake):
    rows = by_device(lake.query(lake.named_queries()["quality_gaps"]))
    a = rows[("pi-a",)]
    assert float(a["expected_interval_s"]) == 10.0
    assert a["readings"] == "27"
    assert a["expected_readings"] == "30"
    assert a["gaps"] == "2"  # a 30 s step and a 20 s step
    assert a["missing_readings"] == "3"
    assert float(a["longest_gap_s"]) == 30.0
    assert (a["seq_gaps"], a["missing_seq"]) == ("1", "1")  # slot 20 was lost on the way
    b = rows[("pi-b",)]
    assert float(b["expected_interval_s"]) == 60.0
    assert (b["expected_readings"], b["gaps"], b["missing_readings"], b["missing_seq"]) == (
        "6",
        "0",
        "0",
        "0",
    )


def test_a_set_expected_interval_overrides_the_median(lake):
    sql = lake.named_queries()["quality_gaps"].replace(
        "CAST(NULL AS double) AS expected_interval_s", "CAST(5 AS double) AS expected_interval_s"
    )
    rows = by_device(lake.query(sql))
    # Every 10 s step of pi-a now spans two 5 s intervals: each misses one reading.
    a = rows[("pi-a",)]
    assert a["expected_readings"] == "59"
    assert a["gaps"] == "26"
    assert a["missing_readings"] == str(24 * 1 + 1 * 5 + 1 * 3)


def test_out_of_range_flagged_and_outliers(lake):
    rows = by_device(lake.query(lake.named_queries()["quality_out_of_range"]), "field")
    pressure = rows[("pi-b", "pressure")]
    assert (pressure["above_range"], pressure["below_range"], pressure["flagged"]) == (
        "1",
        "0",
        "1",
    )
    assert (pressure["max_value"], pressure["valid_max"]) == ("1300.0", "1260.0")
    cpu = rows[("pi-a", "cpu_temp")]
    assert (cpu["readings"], cpu["flagged"]) == ("26", "1")
    temperature = rows[("pi-a", "temperature")]
    assert temperature["outliers"] == "1"  # the 45.0 spike, 5.1 standard deviations out
    assert temperature["above_range"] == "0"
    # Fields never sent are left out; every other count is zero.
    assert {field for _, field in rows} == {"temperature", "humidity", "pressure", "cpu_temp"}
    flagged_or_out = {
        key
        for key, row in rows.items()
        if any(row[c] != "0" for c in ("below_range", "above_range", "flagged", "outliers"))
    }
    assert flagged_or_out == {("pi-b", "pressure"), ("pi-a", "cpu_temp"), ("pi-a", "temperature")}


def test_duplicates_in_raw_by_device_and_seq(lake):
    rows = by_device(lake.query(lake.named_queries()["quality_duplicates"]))
    a, b = rows[("pi-a",)], rows[("pi-b",)]
    assert (a["raw_rows"], a["readings"], a["duplicated_readings"], a["extra_copies"]) == (
        "28",
        "27",
        "1",
        "1",
    )
    assert (a["max_copies"], a["conflicting"]) == ("2", "0")
    assert (b["raw_rows"], b["extra_copies"], b["max_copies"], b["conflicting"]) == (
        "8",
        "2",
        "3",
        "1",
    )


def test_late_arrivals_by_lateness(lake):
    rows = by_device(lake.query(lake.named_queries()["quality_late_arrivals"]))
    a, b = rows[("pi-a",)], rows[("pi-b",)]
    assert float(a["p50_s"]) == 2.0
    assert float(a["max_s"]) == 120.0
    assert (a["under_10s"], a["under_1min"], a["under_1h"], a["over_1d"]) == ("24", "0", "3", "0")
    assert float(b["p50_s"]) == 5.0
    assert float(b["max_s"]) == 2 * 86400
    assert (b["clock_ahead"], b["under_10s"], b["over_1d"]) == ("1", "4", "1")


def test_valid_ranges_in_the_sql_are_the_contract_s():
    """quality_out_of_range.sql repeats the ranges of CONTRACTS.md; they must not drift."""
    contract = {}
    for line in (ROOT / "CONTRACTS.md").read_text().splitlines():
        match = re.match(
            r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| number \| \w+ \| (-?\d+) \.\. (\d+) ", line
        )
        if match:
            for name in re.findall(r"`([a-z_]+)`", match.group(1)):
                contract[name] = (float(match.group(2)), float(match.group(3)))
    sql = (SQL_DIR / "quality_out_of_range.sql").read_text()
    in_sql = {
        name: (float(low), float(high))
        for name, low, high in re.findall(r"\('([a-z_]+)', \d+, (-?[\d.]+), (-?[\d.]+)\)", sql)
    }
    assert len(contract) == 8
    assert in_sql == contract
