"""Building the compactor from the environment: boto3 clients, state store, Athena, files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import boto3

from compactor.athena import AthenaQueries
from compactor.files import AwsBatchFiles
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
    return Compactor(settings, store, runner, clock)
