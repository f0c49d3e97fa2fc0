"""What the benchmarks read back from a deployed pipeline: the compactor's names and batches.

The compactor's settings come from its environment in the deployed template (no name is typed
here). Batches are read from the compactor's DynamoDB state table (`batch#<id>` items, see
athena/compaction.md) and their queries from the Athena API (GetQueryExecution), as an operator
would look at them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from localcloud.cloudformation.deployer import Deployment

COMPACTOR_HANDLER = "compactor.handler.lambda_handler"
_deserializer = TypeDeserializer()


def compactor_logical_id(deployment: Deployment) -> str:
    functions = deployment.runtime["AWS::Lambda::Function"]
    return next(lid for lid, props in functions.items() if props["Handler"] == COMPACTOR_HANDLER)


def compactor_env(deployment: Deployment) -> dict[str, str]:
    """The compactor's environment as deployed (bucket, table, database, workgroup, threshold)."""
    props = deployment.runtime["AWS::Lambda::Function"][compactor_logical_id(deployment)]
    return {k: str(v) for k, v in props["Environment"]["Variables"].items()}


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    reason: str
    objects: int
    status: str
    claimed_at: datetime
    finished_at: datetime | None
    query_ids: dict[str, str]  # step name (`discover`, `ctas:<date>`) -> query id

    @property
    def seconds(self) -> float | None:
        """From the claim to SUCCEEDED: the queries, the copy into compacted/, the tagging."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.claimed_at).total_seconds()


def _scan(table: str, prefix: str, projection: str | None = None) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :prefix)",
        "ExpressionAttributeValues": {":prefix": {"S": prefix}},
        "ConsistentRead": True,
    }
    if projection:
        request["ProjectionExpression"] = projection
    items: list[dict[str, Any]] = []
    while True:
        response = client.scan(**request)
        items += [
            {k: _deserializer.deserialize(v) for k, v in item.items()}
            for item in response.get("Items", [])
        ]
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def batch_records(table: str) -> list[BatchRecord]:
    """Every batch the compactor has claimed, oldest claim first."""
    records = []
    for item in _scan(table, "batch#"):
        finished = item.get("finished_at")
        records.append(
            BatchRecord(
                batch_id=str(item["batch_id"]),
                reason=str(item["reason"]),
                objects=len(item["objects"]),
                status=str(item["status"]),
                claimed_at=datetime.fromisoformat(str(item["claimed_at"])),
                finished_at=datetime.fromisoformat(str(finished)) if finished else None,
                query_ids={
                    name: str(step["query_id"])
                    for name, step in item.get("steps", {}).items()
                    if step.get("query_id")
                },
            )
        )
    return sorted(records, key=lambda record: record.claimed_at)


def counted_objects(table: str) -> int:
    """Raw objects the compactor has counted (`object#<key>` markers)."""
    return len(_scan(table, "object#", projection="pk"))


def unfinished(table: str) -> int:
    """Objects counted but not in a batch, plus batches not finished."""
    client = boto3.client("dynamodb")
    total = 0
    for pk in ("pending", "open"):
        response = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            Select="COUNT",
            ConsistentRead=True,
        )
        total += int(response["Count"])
    return total


@dataclass(frozen=True)
class QueryFigures:
    scanned_bytes: int
    seconds: float  # submission to completion


def query_figures(query_id: str) -> QueryFigures:
    execution = boto3.client("athena").get_query_execution(QueryExecutionId=query_id)
    execution = execution["QueryExecution"]
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        raise RuntimeError(f"query {query_id} {status['State']}: {status.get('StateChangeReason')}")
    elapsed = status["CompletionDateTime"] - status["SubmissionDateTime"]
    return QueryFigures(
        scanned_bytes=int(execution["Statistics"]["DataScannedInBytes"]),
        seconds=elapsed.total_seconds(),
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0.5 = median)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
