"""The hourly quality score's schedule, SQL scoping and result reading (compactor/quality.py)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdk_app.analytics import SQL_DIR
from cdk_app.compaction import quality_settle_minutes
from cdk_app.config import PipelineSettings
from compactor import handler
from compactor.quality import QUALITY_COLUMNS, device_scores, due_hour, scoped_sql
from compactor.service import Summary
from compactor.settings import DEFAULT_QUALITY_SETTLE_MINUTES, DEFAULT_SCHEDULE_MINUTES

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = (SQL_DIR / "quality_hourly.sql").read_text(encoding="utf-8")
HOUR = datetime(2026, 12, 2, 0, tzinfo=UTC)


@settings(deadline=None)  # a shared machine: no timing in tests
@given(
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=24 * 60),
    st.integers(min_value=0, max_value=59),
)
def test_exactly_one_tick_an_hour_computes_an_hour_and_it_is_settled(interval, settle, phase):
    step, wait = timedelta(minutes=interval), timedelta(minutes=settle)
    start = datetime(2026, 12, 2, tzinfo=UTC) + timedelta(minutes=phase)
    ticks = [start + step * n for n in range(int(timedelta(days=1) / step))]
    hours = [(tick, due_hour(tick, wait, step)) for tick in ticks]
    due = [(tick, hour) for tick, hour in hours if hour is not None]
    assert len({hour for _, hour in due}) == len(due)  # never the same hour twice
    assert 23 <= len(due) <= 25
    for tick, hour in due:
        assert tick - wait >= hour + timedelta(hours=1)  # the hour ended `settle` ago
        assert tick - wait - step < hour + timedelta(hours=1)  # at the first tick after that


def test_the_shipped_query_is_scoped_to_the_hour_s_partitions():
    sql = scoped_sql(SHIPPED, "sensor_pipeline", "raw_readings", "readings", HOUR)
    assert sql.startswith(SHIPPED.split("WITH settings AS (")[0])  # the comments kept
    assert (
        'WITH readings AS (\n    SELECT * FROM "sensor_pipeline"."readings" '
        "WHERE dt IN ('2026-12-01', '2026-12-02')\n"
        "      AND ts >= TIMESTAMP '2026-12-01 23:00:00' AND ts < TIMESTAMP '2026-12-02 02:00:00'"
        "\n),\n"
    ) in sql
    assert (
        'raw_readings AS (\n    SELECT * FROM "sensor_pipeline"."raw_readings" WHERE '
        "(dt = '2026-12-02' AND hour = 0) OR (dt = '2026-12-02' AND hour = 1) "
        "OR (dt = '2026-12-02' AND hour = 2)\n),\nsettings AS ("
    ) in sql
    assert sql.endswith(SHIPPED.split("WITH settings AS (")[1])  # the rest unchanged
    late = scoped_sql(SHIPPED, "db", "raw", "c", HOUR.replace(hour=23))
    assert "(dt = '2026-12-03' AND hour = 1)" in late  # arrivals after midnight
    assert "WHERE dt IN ('2026-12-02', '2026-12-03')" in late
    noon = scoped_sql(SHIPPED, "db", "raw", "c", HOUR.replace(hour=12))
    assert "WHERE dt IN ('2026-12-02')\n" in noon  # one reading date


def test_a_query_that_does_not_open_as_expected_is_refused():
    with pytest.raises(ValueError, match="WITH settings AS"):
        scoped_sql("SELECT 1", "db", "raw", "c", HOUR)


def test_the_columns_read_are_those_of_the_shipped_query():
    final = SHIPPED.rsplit("\nSELECT\n", 1)[1].split("\nFROM hours", 1)[0]
    names = [line.strip().rstrip(",").split()[-1] for line in final.splitlines()]
    named = [n for n in names if n.isidentifier() and n not in {"bigint", "quality_score)"}]
    assert [n for n in named if n in QUALITY_COLUMNS] == QUALITY_COLUMNS


def test_only_the_due_hour_s_rows_become_scores():
    rows = [
        [
            "pi-a",
            "2026-12-01 23:00:00.000",
            "1.0",
            "3600",
            "3600",
            "0",
            "0",
            "0",
            "0",
            "3600",
            "1.0",
        ],
        [
            "pi-a",
            "2026-12-02 00:00:00.000",
            "1.0",
            "3600",
            "3000",
            "0",
            "0",
            "0",
            "0",
            "2970",
            "0.825",
        ],
        [
            "pi-b",
            "2026-12-02 00:00:00.000",
            "10.0",
            "360",
            "360",
            "0",
            "1",
            "0",
            "0",
            "359",
            "0.997",
        ],
    ]
    scores = device_scores(QUALITY_COLUMNS, rows, HOUR)
    assert [(s.device_id, s.score, s.good, s.expected) for s in scores] == [
        ("pi-a", 0.825, 2970, 3600),
        ("pi-b", 0.997, 359, 360),
    ]


def test_the_stack_s_settle_time_covers_buffer_tail_and_schedule():
    class CdkJson:
        def try_get_context(self, key: str) -> object:
            return json.loads((ROOT / "cdk.json").read_text())["context"].get(key)

    defaults = PipelineSettings.from_context(CdkJson())
    assert quality_settle_minutes(defaults) == DEFAULT_QUALITY_SETTLE_MINUTES
    assert defaults.compaction_schedule_minutes == DEFAULT_SCHEDULE_MINUTES


def test_each_device_s_score_is_an_emf_metric_stamped_with_its_hour(capsys):
    summary = Summary(
        kind="schedule",
        quality=[
            {"device_id": d, "hour": HOUR.isoformat(), "score": v, "good": 1, "expected": 1}
            for d, v in (("pi-a", 0.825), ("pi-b", 1.0))
        ],
    )
    handler._publish(summary)
    documents = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"QualityScore"' in line
    ]
    assert [(d["device_id"], d["QualityScore"]) for d in documents] == [
        ("pi-a", [0.825]),
        ("pi-b", [1.0]),
    ]
    for document in documents:
        directive = document["_aws"]
        assert directive["Timestamp"] == int(HOUR.timestamp() * 1000)
        assert directive["CloudWatchMetrics"][0]["Dimensions"] == [["device_id"]]
