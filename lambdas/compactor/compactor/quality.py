"""The hourly quality score per device, for CloudWatch: `athena/quality_hourly.sql` run for one
settled hour on the compactor's schedule.

Once an hour's readings have had time to arrive and be compacted (`QUALITY_SETTLE_MINUTES`
after the hour ended: the compaction tail, a schedule interval and the Firehose buffer), the one
schedule tick that crosses that moment runs the shipped query, the deployed named query
(`QUALITY_NAMED_QUERY_ID`: one source for the SQL), scoped to what the hour needs: the compacted
readings from an hour before it to an hour after it (the previous seq of its first reading;
whether the device was publishing at its start and end), the raw table's arrival hours from
the hour to two hours after it (for the copies of a seq). The handler emits each device's score
as the EMF metric `QualityScore` (dimension `device_id`), stamped with the hour's start. A device
silent from the start of the hour before until some time in the hour is taken to have started
when it resumed (the named query over the whole table, and `quality_gaps.sql`, count what it
missed).

What arrives later than the settle time (a device that kept readings in its spool for hours)
is not in that hour's metric; the named query, run later, counts it. EventBridge may deliver a
tick twice and EMF may extract a value twice (its specification says so): the same value at the
same timestamp, so the metric's average, minimum and maximum do not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from compactor.athena import QueryEngine, request_token
from compactor.sql import literal, table_ref
from compactor.waiting import Deadline, wait_for_query

HOUR = timedelta(hours=1)
RAW_HOURS_AFTER = 2  # raw/ arrival hours read after the hour itself
# Compacted readings read around the hour: the hour before gives its first reading's previous
# seq and tells whether the device was publishing at its start, the hour after whether it still
# was at its end. Parquet's row-group statistics on `ts` keep Athena from reading the rest.
READINGS_HOURS_BEFORE = 1
READINGS_HOURS_AFTER = 1
_OPENING = re.compile(r"^WITH settings AS \(", re.MULTILINE)


class QualityQueryError(RuntimeError):
    """The quality query failed or did not finish in time; the message says which."""


@dataclass(frozen=True)
class DeviceScore:
    device_id: str
    hour: datetime
    score: float
    good: int
    expected: int


def due_hour(tick: datetime, settle: timedelta, interval: timedelta) -> datetime | None:
    """The hour whose settle time passed since the previous tick, if one did: exactly one tick
    an hour has one."""
    settled = _hour_of(tick - settle)
    before = _hour_of(tick - interval - settle)
    return settled - HOUR if settled != before else None


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def scoped_sql(shipped: str, database: str, raw: str, compacted: str, hour: datetime) -> str:
    """The shipped query with `readings` and `raw_readings` narrowed to the hour's partitions
    (common table expressions of those names, put before its own)."""
    if len(_OPENING.findall(shipped)) != 1:
        raise ValueError("the quality query does not begin its SQL with `WITH settings AS (`")
    start, end = hour - HOUR * READINGS_HOURS_BEFORE, hour + HOUR * (1 + READINGS_HOURS_AFTER)
    days = ", ".join(literal(f"{d:%Y-%m-%d}") for d in sorted({start.date(), end.date()}))
    arrivals = " OR ".join(
        f"(dt = {literal(f'{t:%Y-%m-%d}')} AND hour = {t.hour})"
        for t in (hour + HOUR * n for n in range(RAW_HOURS_AFTER + 1))
    )
    scope = (
        f"WITH readings AS (\n    SELECT * FROM {table_ref(database, compacted)} "
        f"WHERE dt IN ({days})\n      AND ts >= TIMESTAMP {literal(f'{start:%Y-%m-%d %H:%M:%S}')}"
        f" AND ts < TIMESTAMP {literal(f'{end:%Y-%m-%d %H:%M:%S}')}\n),\n"
        f"raw_readings AS (\n    SELECT * FROM {table_ref(database, raw)} WHERE {arrivals}\n),\n"
        "settings AS ("
    )
    return _OPENING.sub(lambda _: scope, shipped, count=1)


def device_scores(
    header: list[str], rows: list[list[str | None]], hour: datetime
) -> list[DeviceScore]:
    """The hour's rows of the query's result as scores (other hours are left out)."""
    index = {name: i for i, name in enumerate(header)}
    wanted = f"{hour:%Y-%m-%d %H}:00:00"
    scores = []
    for row in rows:
        if not (row[index["hour_start"]] or "").startswith(wanted):
            continue
        scores.append(
            DeviceScore(
                device_id=str(row[index["device_id"]]),
                hour=hour,
                score=float(row[index["quality_score"]] or 0),
                good=int(row[index["good"]] or 0),
                expected=int(row[index["expected"]] or 0),
            )
        )
    return scores


@dataclass
class HourlyQuality:
    """Runs the named quality query for the due hour and returns the scores."""

    athena: object  # boto3's Athena client: GetNamedQuery
    engine: QueryEngine
    named_query_id: str
    database: str
    raw_table: str
    compacted_table: str
    settle: timedelta
    interval: timedelta

    def scores(self, tick: datetime, deadline: Deadline) -> list[DeviceScore]:
        hour = due_hour(tick, self.settle, self.interval)
        if hour is None:
            return []
        named = self.athena.get_named_query(NamedQueryId=self.named_query_id)  # type: ignore[attr-defined]
        sql = scoped_sql(
            named["NamedQuery"]["QueryString"],
            self.database,
            self.raw_table,
            self.compacted_table,
            hour,
        )
        query_id = self.engine.start(sql, request_token("quality", f"{hour:%Y-%m-%dT%H}"))
        status = wait_for_query(self.engine, query_id, deadline)
        if status is None:
            raise QualityQueryError(
                f"quality query {query_id} for {hour:%Y-%m-%d %H}h: no time left"
            )
        if not status.succeeded:
            raise QualityQueryError(
                f"quality query {query_id} for {hour:%Y-%m-%d %H}h {status.state}: {status.reason}"
            )
        return device_scores(QUALITY_COLUMNS, self.engine.rows(query_id), hour)


# The result columns of athena/quality_hourly.sql, in order (its final SELECT).
QUALITY_COLUMNS = [
    "device_id",
    "hour_start",
    "interval_s",
    "expected",
    "received",
    "duplicate_seq",
    "duplicate_ts",
    "out_of_range",
    "backwards",
    "good",
    "quality_score",
]
