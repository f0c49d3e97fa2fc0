"""Running batches: the Athena queries of each batch, resumable, retried on failure, side by side.

Each batch has a lease (the `lease` item names the invocation driving it until its own time
limit), so several invocations drive different batches at once. When a lease has run out (time
limit reached, or the invocation crashed) the next invocation takes the *same* batch over from its
recorded query ids. Batches whose readings could collide (they share an hour of reading time, a
`slot`) do not compact side by side: before a batch's CTAS of a date it takes all slots of that
date in one transaction, and frees them when the date is indexed (or its query failed); a batch
that finds one of its slots taken waits (BLOCKED) and is taken up again later. Batches on disjoint
slots run in parallel. The anti-join of a CTAS reads only the compacted files of batches whose
seconds meet its own (compactor/coverage.py), and those are indexed before their slots are freed,
so every reading is compacted exactly once.

Steps of a batch (recorded in the batch's `steps` map):
1. `discover`: SELECT the batch's reading seconds (recorded per date as ranges).
2. per reading date `ctas:<date>`: take the date's slots; drop an earlier attempt's temporary
   table, start the CTAS (Athena writes it under the workgroup's result location), wait, record
   where the table is; empty the batch's folder `compacted/dt=<date>/batch=<id>/` and copy the
   table's files into it, record `copied`; drop the temporary table, delete its files; then in one
   transaction mark the date done, index the folder's files under the date's slots, free them.
3. tag the batch's raw objects `compacted=true` (the lifecycle rule expires only those).
Then the batch is marked SUCCEEDED and leaves the open list. A failed query records the failure,
schedules a retry of the batch after a backoff, and frees the batch's lease and slots.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from aws_lambda_powertools import Logger

from compactor import coverage
from compactor.athena import QueryEngine, request_token
from compactor.batches import DISCOVER_STEP, OPEN, Batch, StepState, ctas_step
from compactor.files import BatchFiles, split_s3_uri
from compactor.settings import Settings
from compactor.sql import Tables, ctas_sql, discover_sql, output_prefix, temporary_table
from compactor.state import LeaseLost, StateStore
from compactor.waiting import Deadline, wait_for_query

logger = Logger(child=True)

LEASE_MARGIN_MS = 10_000  # clock differences between invocations
FIRST_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(minutes=60)


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OUT_OF_TIME = "out_of_time"
    LEASE_LOST = "lease_lost"
    BLOCKED = "blocked"  # another batch compacts readings of the same hours now


@dataclass
class RunReport:
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unfinished: str | None = None  # still running when the time ran out
    blocked: list[str] = field(default_factory=list)  # waiting for a slot another batch holds
    skipped_values: int = 0  # discover rows that were not a reading second


def retry_delay(attempts: int) -> timedelta:
    """Backoff before retrying a batch that has failed `attempts` times before."""
    return min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** min(attempts, 16))


@dataclass
class Runner:
    store: StateStore
    engine: QueryEngine
    files: BatchFiles
    settings: Settings
    clock: Callable[[], datetime]
    owner: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def tables(self) -> Tables:
        return Tables(
            self.settings.glue_database, self.settings.raw_table, self.settings.compacted_table
        )

    def run(self, deadline: Deadline) -> RunReport:
        """Run due batches one after another until none is left or the time is up.

        A batch blocked by another's slots is passed over until some batch has succeeded here.
        """
        report = RunReport()
        passed_over: set[str] = set()
        while not deadline.expired():
            batch = self._acquire(deadline, passed_over)
            if batch is None:
                break
            try:
                outcome = self._drive(batch, deadline, report)
                if outcome is Outcome.BLOCKED:
                    self.store.release_lease(batch.batch_id, self.owner)
            except LeaseLost:
                logger.warning(
                    "lease lost; another invocation drives the batch",
                    extra={"batch_id": batch.batch_id},
                )
                break
            except Exception:
                # Keep the batch's slots but end the lease: the next invocation resumes this
                # batch (a query of it may still run); batches of the same hours wait for it.
                try:
                    self.store.end_lease(batch.batch_id, self.owner, self._now_ms())
                except Exception:
                    logger.exception("could not end the lease; it runs out at the time limit")
                raise
            logger.debug(
                "batch run ended", extra={"batch_id": batch.batch_id, "outcome": outcome.value}
            )
            if outcome is Outcome.SUCCEEDED:
                report.succeeded.append(batch.batch_id)
                passed_over.clear()  # what it blocked may run now
            elif outcome is Outcome.FAILED:
                report.failed.append(batch.batch_id)
                passed_over.add(batch.batch_id)
            elif outcome is Outcome.BLOCKED:
                report.blocked.append(batch.batch_id)
                passed_over.add(batch.batch_id)
            else:
                if outcome is Outcome.OUT_OF_TIME:
                    report.unfinished = batch.batch_id
                break
        return report

    # --- leases ---------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def _acquire(self, deadline: Deadline, passed_over: set[str]) -> Batch | None:
        """The oldest due batch no other invocation drives, with its lease taken; or None."""
        now = self.clock()
        now_ms = int(now.timestamp() * 1000)
        lease_until = now_ms + deadline.remaining_ms() + LEASE_MARGIN_MS
        for batch_id in self.store.open_batch_ids(now):
            if batch_id in passed_over:
                continue
            lease = self.store.lease(batch_id)
            if lease is not None and lease.lease_until_ms > now_ms:
                continue  # another invocation drives it right now
            if not self.store.take_lease(batch_id, self.owner, lease_until, lease):
                continue
            if lease is not None:
                logger.info("resuming batch", extra={"batch_id": batch_id})
            batch = self.store.load_batch(batch_id)
            if batch is not None and batch.status == OPEN:
                return batch
            # Finished by another invocation between our look at the open list and the lease.
            with contextlib.suppress(LeaseLost):
                self.store.release_lease(batch_id, self.owner)
        return None

    # --- one batch ------------------------------------------------------------------------

    def _drive(self, batch: Batch, deadline: Deadline, report: RunReport) -> Outcome:
        if batch.dates is None:
            sql = discover_sql(batch, self.tables)
            outcome, batch = self._query_step(batch, DISCOVER_STEP, sql, None, deadline)
            if outcome is not Outcome.SUCCEEDED:
                return outcome
            query_id = batch.step(DISCOVER_STEP).query_id
            assert query_id is not None
            seconds, bad = coverage.reading_seconds(self.engine.rows(query_id))
            if bad:
                report.skipped_values += len(bad)
                logger.error(
                    "readings whose ts is not an ISO date and time stay in raw/ only",
                    extra={"batch_id": batch.batch_id, "values": bad[:20]},
                )
            self.store.save_dates(batch, seconds, self.owner)
            batch = replace(batch, dates=tuple(seconds), coverage=seconds)
        assert batch.dates is not None
        for reading_date in batch.dates:
            outcome, batch = self._compact_date(batch, reading_date, deadline)
            if outcome is not Outcome.SUCCEEDED:
                return outcome
        if deadline.expired():
            return Outcome.OUT_OF_TIME
        missing = [
            obj.key for obj in batch.objects if not self.files.tag_compacted(obj.bucket, obj.key)
        ]
        if missing:
            logger.warning("raw objects gone before tagging", extra={"keys": missing[:20]})
        self.store.finish(batch, self.owner, self.clock())
        return Outcome.SUCCEEDED

    def _compact_date(
        self, batch: Batch, reading_date: str, deadline: Deadline
    ) -> tuple[Outcome, Batch]:
        """CTAS the readings of one date, then move its files into the batch's folder.

        Each phase is recorded before the next starts, so an interrupted invocation resumes
        where it stopped: the query (by id), the copy (the batch's folder is emptied and the
        copy redone from the CTAS table's files, which are deleted only after `copied`).
        """
        step = ctas_step(reading_date)
        state = batch.step(step)
        if state.done:
            return Outcome.SUCCEEDED, batch
        ranges = batch.ranges(reading_date)
        slots = coverage.slots(reading_date, ranges)
        if not self.store.take_slots(batch.batch_id, self.owner, slots):
            logger.info(
                "another batch compacts readings of the same hours; waiting",
                extra={"batch_id": batch.batch_id, "reading_date": reading_date},
            )
            return Outcome.BLOCKED, batch
        database = self.settings.glue_database
        temp = temporary_table(batch.batch_id, reading_date)
        bucket = self.settings.data_bucket
        prefix = output_prefix(self.settings.compacted_prefix, batch.batch_id, reading_date)
        if state.source is None:
            colliding = self.store.colliding_files(reading_date, ranges, batch.batch_id)
            sql = ctas_sql(batch, reading_date, self.tables, colliding)

            def drop_leftover() -> None:
                if self.files.drop_table(database, temp):
                    logger.info("dropped an earlier attempt's table", extra={"table": temp})

            outcome, batch = self._query_step(batch, step, sql, drop_leftover, deadline, slots)
            if outcome is not Outcome.SUCCEEDED:
                return outcome, batch
            source = self.files.table_location(database, temp)
            if source is None:
                raise RuntimeError(f"the CTAS succeeded but its table {database}.{temp} is missing")
            batch = self._save(batch, step, replace(batch.step(step), source=source))
        state = batch.step(step)
        assert state.source is not None
        if not state.copied:
            if deadline.expired():
                return Outcome.OUT_OF_TIME, batch
            stale = self.files.delete_prefix(bucket, prefix)
            copied = self.files.copy_prefix(state.source, bucket, prefix)
            logger.debug(
                "compacted files in place",
                extra={
                    "batch_id": batch.batch_id,
                    "prefix": prefix,
                    "files": copied,
                    "stale_files_removed": stale,
                },
            )
            batch = self._save(batch, step, replace(state, copied=True))
        self.files.drop_table(database, temp)
        source_bucket, source_prefix = split_s3_uri(state.source)
        self.files.delete_prefix(source_bucket, source_prefix)
        files = [f"s3://{bucket}/{key}" for key in self.files.list_files(bucket, prefix)]
        done = replace(batch.step(step), done=True)
        self.store.complete_date(batch, step, done, reading_date, files, self.owner, self.clock())
        return Outcome.SUCCEEDED, batch.with_step(step, done)

    def _save(self, batch: Batch, step: str, state: StepState) -> Batch:
        self.store.save_step(batch, step, state, self.owner)
        return batch.with_step(step, state)

    def _query_step(
        self,
        batch: Batch,
        step: str,
        sql: str,
        prepare: Callable[[], None] | None,
        deadline: Deadline,
        slots: list[str] | None = None,
    ) -> tuple[Outcome, Batch]:
        """Start (or find again) the step's query and wait for it."""
        state = batch.step(step)
        if state.query_id is None:
            if prepare is not None and state.prepared < state.attempt:
                if deadline.expired():
                    return Outcome.OUT_OF_TIME, batch
                prepare()
                state = replace(state, prepared=state.attempt)
                self.store.save_step(batch, step, state, self.owner)
                batch = batch.with_step(step, state)
            if deadline.expired():
                return Outcome.OUT_OF_TIME, batch
            token = request_token(batch.batch_id, step, str(state.attempt))
            state = state.started(self.engine.start(sql, token))
            self.store.save_step(batch, step, state, self.owner)
            batch = batch.with_step(step, state)
            logger.debug(
                "query started",
                extra={"batch_id": batch.batch_id, "step": step, "query_id": state.query_id},
            )
        assert state.query_id is not None
        status = wait_for_query(self.engine, state.query_id, deadline)
        if status is None:
            return Outcome.OUT_OF_TIME, batch
        if status.succeeded:
            return Outcome.SUCCEEDED, batch
        error = f"{step}: query {state.query_id} {status.state}: {status.reason}"
        retry_after = self.clock() + retry_delay(batch.attempts)
        logger.error(
            "query failed; the batch will be retried",
            extra={
                "batch_id": batch.batch_id,
                "error": error,
                "retry_after": retry_after.isoformat(),
            },
        )
        self.store.fail(batch, step, state.failed(), error, retry_after, self.owner, slots or [])
        return Outcome.FAILED, batch
