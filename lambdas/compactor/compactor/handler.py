"""Lambda entry point (`compactor.handler.lambda_handler`): S3 ObjectCreated and schedule events."""

from __future__ import annotations

import os
import secrets
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from compactor.service import Compactor, Summary
from compactor.waiting import Deadline
from compactor.wiring import build_compactor

# The stack sets POWERTOOLS_METRICS_NAMESPACE; the default keeps metrics valid without it.
DEFAULT_METRICS_NAMESPACE = "SensorPipeline"
logger = Logger()
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
)
_built: tuple[tuple[tuple[str, str], ...], Compactor] | None = None


def _compactor() -> Compactor:
    """One compactor per execution environment (clients are reused between invocations)."""
    global _built  # noqa: PLW0603 - the Lambda execution environment's cache
    key = tuple(sorted(os.environ.items()))
    if _built is None or _built[0] != key:
        _built = (key, build_compactor(os.environ))
    compactor = _built[1]
    compactor.runner.owner = secrets.token_hex(8)  # each invocation holds its own lease
    return compactor


def _publish(summary: Summary) -> None:
    for name, value in (
        ("ObjectsCounted", summary.counted),
        ("DuplicateEvents", summary.duplicates),
        ("RejectedRecords", summary.rejected),
        ("BatchesClaimed", len(summary.claimed)),
        ("BatchesCompacted", len(summary.succeeded)),
        ("BatchAttemptsFailed", len(summary.failed)),
        ("PendingObjects", summary.pending),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = _compactor().handle(event, Deadline(context.get_remaining_time_in_millis))
    _publish(summary)
    logger.debug("invocation done", extra=summary.as_dict())
    return summary.as_dict()
