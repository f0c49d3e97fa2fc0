"""DynamoDB in moto's backend, as moto ships it and with the local cloud's transactions and
queries (localcloud/moto/dynamodb_transactions.py, dynamodb_query.py), as the tables grow.

Each transaction is the shape of the compactor's: an update of a counter item and a put of a new
item, with a condition. Each query is the compactor's look for pending objects: one partition
key (20 items) of a table whose other items sit under other partition keys. One line per table
size and variant:

    DYNAMODB_TRANSACT variant=<moto|localcloud> items=<n> ms_per_transaction=<x>
    DYNAMODB_QUERY variant=<moto|localcloud> items=<n> ms_per_query=<x>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moto.dynamodb.models import DynamoDBBackend  # noqa: E402

from localcloud.core.aws import ACCOUNT_ID, REGION  # noqa: E402
from localcloud.moto import dynamodb_query, dynamodb_transactions  # noqa: E402

SIZES = (1_000, 5_000, 20_000)
TRANSACTIONS = 50
QUERIES = 50
PENDING = 20  # items in the queried partition


def create_table(backend: DynamoDBBackend, name: str, *keys: str) -> None:
    """An on-demand table keyed by string attributes: the hash key, then the range key if any."""
    backend.create_table(
        name,
        schema=[
            {"AttributeName": key, "KeyType": kind}
            for key, kind in zip(keys, ("HASH", "RANGE"), strict=False)
        ],
        throughput=None,
        attr=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=None,
        deletion_protection_enabled=False,
        warm_throughput=None,
    )


def backend_with(items: int) -> DynamoDBBackend:
    backend = DynamoDBBackend(REGION, ACCOUNT_ID)
    create_table(backend, "state", "pk")
    for n in range(items):
        backend.put_item("state", {"pk": {"S": f"object-{n}"}, "state": {"S": "counted"}})
    backend.put_item("state", {"pk": {"S": "counter"}, "n": {"N": "0"}})
    create_table(backend, "steps", "pk", "sk")
    for n in range(items):  # batches of 20 objects, each batch its partition
        item = {"pk": {"S": f"batch#{n // 20}"}, "sk": {"S": f"object-{n}"}}
        backend.put_item("steps", item)
    for n in range(PENDING):
        backend.put_item("steps", {"pk": {"S": "pending"}, "sk": {"S": f"object-{n}"}})
    return backend


def transaction(n: int) -> list[dict[str, object]]:
    return [
        {
            "Update": {
                "TableName": "state",
                "Key": {"pk": {"S": "counter"}},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {
            "Put": {
                "TableName": "state",
                "Item": {"pk": {"S": f"new-{n}"}, "state": {"S": "counted"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]


def query_pending(backend: DynamoDBBackend) -> int:
    items, _, _ = backend.query(
        "steps",
        hash_key_dict={"S": "pending"},
        range_comparison=None,
        range_value_dicts=[],
        limit=100,
        exclusive_start_key=None,  # type: ignore[arg-type]
        scan_index_forward=True,
        projection_expressions=None,
        consistent_read=True,
    )
    return len(items)


def measure(variant: str) -> None:
    for size in SIZES:
        backend = backend_with(size)
        started = time.perf_counter()
        for n in range(TRANSACTIONS):
            backend.transact_write_items(transaction(n))
        each_ms = (time.perf_counter() - started) / TRANSACTIONS * 1e3
        line = f"DYNAMODB_TRANSACT variant={variant} items={size} ms_per_transaction={each_ms:.2f}"
        print(line, flush=True)
        started = time.perf_counter()
        for _ in range(QUERIES):
            assert query_pending(backend) == PENDING
        each_ms = (time.perf_counter() - started) / QUERIES * 1e3
        line = f"DYNAMODB_QUERY variant={variant} items={size} ms_per_query={each_ms:.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    measure("moto")
    dynamodb_transactions.install()
    dynamodb_query.install()
    measure("localcloud")
