"""Building the compactor from the environment: boto3 clients, state store, Athena, files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import boto3

from compactor.athena import AthenaQueries
from compactor.files import AwsBatchFiles
from compactor.quality import HourlyQuality
from compactor.runner import Runner
from compactor.service import Compactor
from compactor.settings import Settings
from compactor.state import StateStore


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_compactor(env: Mapping[str, str], clock: Callable[[], datetime] = utc_now) -> Compactor:
    """The compactor wired to AWS; endpoints come from boto3's standard AWS_ENDPOINT_URL* vars."""
    settings = Settings.from_env(env)
    session = boto3.session.Session()
    store = StateStore(session.client("dynamodb"), settings.state_table)
    engine = AthenaQueries(session.client("athena"), settings.workgroup, settings.glue_database)
    files = AwsBatchFiles(session.client("s3"), session.client("glue"))
    runner = Runner(store, engine, files, settings, clock)
    quality = None
    if settings.quality_named_query_id:
        quality = HourlyQuality(
            athena=session.client("athena"),
            engine=engine,
            named_query_id=settings.quality_named_query_id,
            database=settings.glue_database,
            raw_table=settings.raw_table,
            compacted_table=settings.compacted_table,
            settle=timedelta(minutes=settings.quality_settle_minutes),
            interval=timedelta(minutes=settings.schedule_minutes),
        )
    return Compactor(settings, store, runner, clock, quality)
