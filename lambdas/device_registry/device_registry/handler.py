"""Custom resource handler (CDK Provider framework): write the device registry's object."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from device_registry.registry_object import apply

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    response = apply(event["RequestType"], event["ResourceProperties"], boto3.client("s3"))
    logger.info("device registry", extra={"request": event["RequestType"], **response})
    return response
