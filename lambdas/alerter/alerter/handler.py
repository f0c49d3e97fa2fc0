"""Lambda entry point (`alerter.handler.lambda_handler`): Kinesis batches of readings."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from alerter.service import Alerter, BatchSummary
from alerter.wiring import build_alerter

DEFAULT_METRICS_NAMESPACE = "SensorPipeline"
logger = Logger()
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
)
_alerter: Alerter | None = None


def _built() -> Alerter:
    """One alerter per execution environment (clients and the threshold cache are reused)."""
    global _alerter  # noqa: PLW0603 - the Lambda execution environment's cache
    if _alerter is None:
        _alerter = build_alerter()
    return _alerter


def _publish(summary: BatchSummary) -> None:
    raised = sum(1 for alert in summary.alerts if alert["transition"] != "recovered")
    for name, value in (
        ("ReadingsEvaluated", summary.evaluated),
        ("InvalidReadingsSkipped", summary.invalid),
        ("AlertsRaised", raised),
        ("AlertsRecovered", len(summary.alerts) - raised),
        ("AlertRecordsFailed", 0 if summary.failed_at is None else 1),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = _built().handle(event)
    _publish(summary)
    for alert in summary.alerts:
        logger.info("alert", extra={"alert": alert})
    logger.debug("batch done", extra=summary.as_dict())
    return summary.response()
