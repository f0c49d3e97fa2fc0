"""What the local IAM check asks of a role's policies: the IAM action and resource of a request
(moto's own are not usable for DynamoDB transactions, CloudWatch or resource-scoped grants)."""

import json

from localcloud.core.aws import arn
from localcloud.core.iam import access_key_of, denial
from localcloud.moto.authorization import deleted_keys, permissions, policies_allow

STATE = arn("dynamodb", "table/state")


def test_a_transaction_needs_each_items_action_on_each_items_table() -> None:
    body = {
        "TransactItems": [
            {"Put": {"TableName": "state"}},
            {"ConditionCheck": {"TableName": "other"}},
            {"Update": {"TableName": "state"}},
        ]
    }
    assert permissions("dynamodb", "TransactWriteItems", body) == [
        ("dynamodb:PutItem", STATE),
        ("dynamodb:ConditionCheckItem", arn("dynamodb", "table/other")),
        ("dynamodb:UpdateItem", STATE),
    ]


def test_resources_of_tables_indexes_streams_and_topics() -> None:
    query = {"TableName": "state", "IndexName": "by-batch"}
    assert permissions("dynamodb", "Query", query) == [
        ("dynamodb:Query", f"{STATE}/index/by-batch")
    ]
    assert permissions("kinesis", "PutRecord", {"StreamName": "readings"}) == [
        ("kinesis:PutRecord", arn("kinesis", "stream/readings"))
    ]
    topic = arn("sns", "alerts")
    assert permissions("sns", "Publish", {"TopicArn": topic}) == [("sns:Publish", topic)]
    # CloudWatch signs as `monitoring`; other services match on the action only
    assert permissions("monitoring", "PutMetricData", {}) == [("cloudwatch:PutMetricData", "")]
    assert permissions("glue", "GetTable", {"Name": "t"}) == [("glue:GetTable", "")]


def test_policy_evaluation_explicit_deny_wins_and_action_only_matching() -> None:
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": STATE}
    deny = {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]})
    assert policies_allow([policy], "dynamodb:PutItem", STATE)
    assert not policies_allow([policy], "dynamodb:PutItem", arn("dynamodb", "table/other"))
    assert not policies_allow([policy], "dynamodb:DeleteItem", STATE)
    assert policies_allow([policy], "dynamodb:GetItem", "")  # resource not known: action only
    assert not policies_allow([policy], "glue:GetTable", "")


def test_request_details() -> None:
    header = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261202/us-east-1/athena/aws4_request, ..."
    assert access_key_of({"Authorization": header}) == "ASIAEXAMPLE"
    assert access_key_of({}) is None
    body = b"<Delete><Object><Key>a/1</Key></Object><Object><Key>b</Key></Object></Delete>"
    assert deleted_keys(body) == ["a/1", "b"]
    assert denial("arn:r", "athena:StartQueryExecution", "arn:wg").startswith(
        "User: arn:r is not authorized to perform: athena:StartQueryExecution on resource: arn:wg"
    )
