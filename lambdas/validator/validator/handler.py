"""Firehose transformation entry point (`validator.handler.lambda_handler`): logs and metrics."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from validator.invalid_sink import S3Client
from validator.settings import Settings, metrics_namespace
from validator.transform import process_event

logger = Logger()
metrics = Metrics(namespace=metrics_namespace(os.environ))


@cache
def s3_client() -> S3Client:
    return boto3.client("s3")


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)
    logger.append_keys(invocation_id=event.get("invocationId"))
    result = process_event(event, settings, s3_client)
    for line in result.invalid:
        logger.warning(
            "invalid record",
            record_id=line.record_id,
            thing_name=line.thing_name,
            problem=line.problem,
            reason=line.reason,
        )
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=result.ok)
    metrics.add_metric(name="RecordsInvalid", unit=MetricUnit.Count, value=len(result.invalid))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=result.failed)
    for problem, count in sorted(result.problem_counts().items()):
        with single_metric(
            name="RecordsInvalid",
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
        ) as metric:
            metric.add_dimension(name="reason", value=problem)
    logger.debug(
        "batch transformed",
        records=len(result.records),
        ok=result.ok,
        invalid=len(result.invalid),
        failed=result.failed,
        invalid_objects=result.invalid_keys,
    )
    return result.response()
