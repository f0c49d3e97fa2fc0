"""Custom resource handler (CDK Provider framework): set up the OpenSearch domain after deploy."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from search_setup.setup import install

logger = Logger()
SAFETY_MS = 15_000


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    props = event["ResourceProperties"]
    physical_id = f"opensearch-setup-{props['IndexName']}"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", physical_id)}
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=props["MasterSecretArn"])[
            "SecretString"
        ]
    )
    endpoint = props["DomainEndpoint"]
    if not endpoint.startswith("http"):
        endpoint = f"https://{endpoint}"
    deadline = time.monotonic() + (context.get_remaining_time_in_millis() - SAFETY_MS) / 1000
    installed = install(
        endpoint,
        (secret["username"], secret["password"]),
        props["IndexName"],
        list(props["WriterRoleArns"]),
        deadline,
        # CloudFormation passes every scalar property as a string.
        retention_days=int(props["RetentionDays"]) if "RetentionDays" in props else None,
        saved_objects=props.get("SavedObjects"),
    )
    logger.info("OpenSearch set up", extra={"installed": installed})
    return {"PhysicalResourceId": physical_id, "Data": {"Installed": ",".join(installed)}}
