"""TransactWriteItems on the local cloud's moto server, which backs up only the items a
transaction names (localcloud/moto/dynamodb_transactions.py): all of it happens, or none."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


@pytest.fixture
def tables(aws):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="counts",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="steps",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(50):  # items the transactions do not name stay as they are
        dynamodb.put_item(TableName="counts", Item={"pk": {"S": f"other-{n}"}, "n": {"N": "0"}})
    dynamodb.put_item(TableName="counts", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName="counts", Item={"pk": {"S": "b"}, "n": {"N": "1"}})
    dynamodb.put_item(
        TableName="steps", Item={"pk": {"S": "batch"}, "sk": {"S": "1"}, "state": {"S": "open"}}
    )
    return dynamodb


def everything(dynamodb) -> dict[str, list[dict]]:
    return {
        name: sorted(
            dynamodb.scan(TableName=name)["Items"], key=lambda i: (i["pk"]["S"], str(i.get("sk")))
        )
        for name in ("counts", "steps")
    }


def writes(last: dict) -> list[dict]:
    """An update, a put of a new item, a delete (in both tables), then `last`."""
    return [
        {
            "Update": {
                "TableName": "counts",
                "Key": {"pk": {"S": "a"}},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Put": {"TableName": "counts", "Item": {"pk": {"S": "c"}, "n": {"N": "9"}}}},
        {"Delete": {"TableName": "counts", "Key": {"pk": {"S": "b"}}}},
        {
            "Update": {
                "TableName": "steps",
                "Key": {"pk": {"S": "batch"}, "sk": {"S": "1"}},
                "UpdateExpression": "SET #s = :done",
                "ExpressionAttributeNames": {"#s": "state"},
                "ExpressionAttributeValues": {":done": {"S": "done"}},
            }
        },
        {"Put": {"TableName": "steps", "Item": {"pk": {"S": "batch"}, "sk": {"S": "2"}}}},
        last,
    ]


FAILING_CHECK = {
    "ConditionCheck": {
        "TableName": "counts",
        "Key": {"pk": {"S": "missing"}},
        "ConditionExpression": "attribute_exists(pk)",
    }
}


def test_a_cancelled_transaction_changes_nothing(tables):
    before = everything(tables)
    with pytest.raises(ClientError) as raised:
        tables.transact_write_items(TransactItems=writes(FAILING_CHECK))
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert everything(tables) == before


def test_a_transaction_naming_an_item_twice_is_refused_and_changes_nothing(tables):
    before = everything(tables)
    again = {"Delete": {"TableName": "counts", "Key": {"pk": {"S": "a"}}}}
    with pytest.raises(ClientError) as raised:
        tables.transact_write_items(TransactItems=writes(again))
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert everything(tables) == before


def test_a_transaction_that_holds_does_all_of_it(tables):
    passing = {
        "ConditionCheck": {
            "TableName": "counts",
            "Key": {"pk": {"S": "other-7"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    tables.transact_write_items(TransactItems=writes(passing))
    after = everything(tables)
    counts = {item["pk"]["S"]: item["n"]["N"] for item in after["counts"]}
    assert counts["a"] == "2" and counts["c"] == "9" and "b" not in counts
    assert len(counts) == 52  # the 50 others, a and c
    assert [(i["sk"]["S"], i.get("state", {}).get("S")) for i in after["steps"]] == [
        ("1", "done"),
        ("2", None),
    ]
