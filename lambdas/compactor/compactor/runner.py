"""Running batches: the Athena queries of one batch at a time, resumable, retried on failure.

One batch runs its queries at a time (the `lock` item names it). That keeps the anti-join of a
CTAS exact: no other batch writes to the compacted table while it reads it. The lock belongs to
the batch, not to an invocation: an invocation holds a lease on it until its own time limit, and
when the lease has run out (time limit reached, or the invocation crashed) the next invocation
resumes the *same* batch from its recorded query ids. Only a batch whose queries are all finished
releases the lock.

Steps of a batch (recorded in the batch's `steps` map):
1. `discover`: SELECT the batch's reading dates.
2. per reading date `ctas:<date>`: delete what an earlier attempt left under the output folder,
   drop its temporary table, start the CTAS, wait, drop the temporary table, mark done.
3. tag the batch's raw objects `compacted=true` (the lifecycle rule expires only those).
Then the batch is marked SUCCEEDED and leaves the open list. A failed query records the failure,
schedules a retry of the batch after a backoff, and frees the lock for the next batch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from aws_lambda_powertools import Logger

from compactor.athena import QueryEngine, request_token
from compactor.batches import DISCOVER_STEP, OPEN, Batch, ctas_step
from compactor.files import BatchFiles
from compactor.settings import Settings
from compactor.sql import (
    Tables,
    ctas_sql,
    discover_sql,
    output_prefix,
    reading_dates,
    temporary_table,
)
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


@dataclass
class RunReport:
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unfinished: str | None = None  # still running when the time ran out
    skipped_values: int = 0  # discover rows that were not a reading date


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
        """Run open batches one after another until none is due or the time is up."""
        report = RunReport()
        while not deadline.expired():
            batch = self._acquire(deadline)
            if batch is None:
                break
            try:
                outcome = self._drive(batch, deadline, report)
            except LeaseLost:
                logger.warning(
                    "lease lost; another invocation drives the batch",
                    extra={"batch_id": batch.batch_id},
                )
                break
            except Exception:
                # Keep the lock on this batch but end the lease: the next invocation resumes
                # this batch (a query of it may still run), and no other batch starts meanwhile.
                self.store.end_lease(self.owner, self._now_ms())
                raise
            logger.info(
                "batch run ended", extra={"batch_id": batch.batch_id, "outcome": outcome.value}
            )
            if outcome is Outcome.SUCCEEDED:
                report.succeeded.append(batch.batch_id)
            elif outcome is Outcome.FAILED:
                report.failed.append(batch.batch_id)
            else:
                if outcome is Outcome.OUT_OF_TIME:
                    report.unfinished = batch.batch_id
                break
        return report

    # --- the lock -------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def _acquire(self, deadline: Deadline) -> Batch | None:
        """The batch this invocation may drive now, with the lock taken; None if there is none."""
        while True:
            now = self.clock()
            now_ms = int(now.timestamp() * 1000)
            lease_until = now_ms + deadline.remaining_ms() + LEASE_MARGIN_MS
            lock = self.store.lock()
            if lock is not None:
                if lock.lease_until_ms > now_ms:
                    return None  # another invocation drives a batch right now
                if not self.store.take_lock(lock.batch_id, self.owner, lease_until, lock):
                    return None
                batch_id = lock.batch_id
                logger.info("resuming batch", extra={"batch_id": batch_id})
            else:
                due = self.store.open_batch_ids(now)
                if not due:
                    return None
                batch_id = due[0]
                if not self.store.take_lock(batch_id, self.owner, lease_until, None):
                    return None
            batch = self.store.load_batch(batch_id)
            if batch is not None and batch.status == OPEN:
                return batch
            # Finished by another invocation between our look at the open list and the lock.
            self.store.release_lock(self.owner)

    # --- one batch ------------------------------------------------------------------------

    def _drive(self, batch: Batch, deadline: Deadline, report: RunReport) -> Outcome:
        if batch.dates is None:
            sql = discover_sql(batch, self.tables)
            outcome, batch = self._query_step(batch, DISCOVER_STEP, sql, None, deadline)
            if outcome is not Outcome.SUCCEEDED:
                return outcome
            query_id = batch.step(DISCOVER_STEP).query_id
            assert query_id is not None
            dates, bad = reading_dates(self.engine.rows(query_id))
            if bad:
                report.skipped_values += len(bad)
                logger.error(
                    "readings whose ts is not an ISO date stay in raw/ only",
                    extra={"batch_id": batch.batch_id, "values": bad[:20]},
                )
            self.store.save_dates(batch, dates, self.owner)
            batch = replace(batch, dates=tuple(dates))
        assert batch.dates is not None
        for reading_date in batch.dates:
            step = ctas_step(reading_date)
            if batch.step(step).done:
                continue
            temp = temporary_table(batch.batch_id, reading_date)
            prefix = output_prefix(self.settings.compacted_prefix, batch.batch_id, reading_date)
            sql = ctas_sql(batch, reading_date, self.tables, self.settings.data_bucket, prefix)

            def clean_up(prefix: str = prefix, temp: str = temp) -> None:
                deleted = self.files.delete_prefix(self.settings.data_bucket, prefix)
                dropped = self.files.drop_table(self.settings.glue_database, temp)
                if deleted or dropped:
                    logger.info(
                        "removed an earlier attempt's output",
                        extra={"prefix": prefix, "objects": deleted, "table": dropped},
                    )

            outcome, batch = self._query_step(batch, step, sql, clean_up, deadline)
            if outcome is not Outcome.SUCCEEDED:
                return outcome
            self.files.drop_table(self.settings.glue_database, temp)
            done = replace(batch.step(step), done=True)
            self.store.save_step(batch, step, done, self.owner)
            batch = batch.with_step(step, done)
        if deadline.expired():
            return Outcome.OUT_OF_TIME
        missing = [
            obj.key for obj in batch.objects if not self.files.tag_compacted(obj.bucket, obj.key)
        ]
        if missing:
            logger.warning("raw objects gone before tagging", extra={"keys": missing[:20]})
        self.store.finish(batch, self.owner, self.clock())
        return Outcome.SUCCEEDED

    def _query_step(
        self,
        batch: Batch,
        step: str,
        sql: str,
        prepare: Callable[[], None] | None,
        deadline: Deadline,
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
            logger.info(
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
        self.store.fail(batch, step, state.failed(), error, retry_after, self.owner)
        return Outcome.FAILED, batch
