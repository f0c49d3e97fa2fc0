"""IAM enforced by the local cloud: a session of a role may do what the role's policies allow
and gets AccessDenied for the rest, on moto (S3, DynamoDB incl. transactions, Kinesis, SQS,
SNS, Secrets Manager) and on the local Athena; the account's own key is the administrator."""

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.athena.server import AthenaServer
from localcloud.core.aws import arn
from tests.conftest import role_session

pytestmark = pytest.mark.integration


def denied(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    code = caught.value.response["Error"]["Code"]
    assert code in ("AccessDenied", "AccessDeniedException"), caught.value.response
    return str(caught.value)


def allow(action, resource) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def test_a_role_session_gets_what_its_policy_allows_and_access_denied_otherwise(aws):
    admin_s3, admin_ddb = boto3.client("s3"), boto3.client("dynamodb")
    admin_s3.create_bucket(Bucket="data")
    for table in ("state", "other"):
        admin_ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    boto3.client("kinesis").create_stream(StreamName="readings", ShardCount=1)
    topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    queues = {
        q: boto3.client("sqs").create_queue(QueueName=q)["QueueUrl"] for q in ("failed", "other")
    }
    session = role_session(
        [
            allow("s3:PutObject", "arn:aws:s3:::data/raw/*"),
            allow(
                ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"], arn("dynamodb", "table/state")
            ),
            allow("kinesis:PutRecord", arn("kinesis", "stream/readings")),
            allow("sns:Publish", topic),
            allow("sqs:SendMessage", arn("sqs", "failed")),
        ]
    )
    s3, ddb = session.client("s3"), session.client("dynamodb")

    s3.put_object(Bucket="data", Key="raw/a.json", Body=b"{}")
    assert "AccessDenied" in denied(s3.put_object, Bucket="data", Key="compacted/a", Body=b"{}")
    denied(s3.get_object, Bucket="data", Key="raw/a.json")

    item = {"pk": {"S": "a"}}
    ddb.put_item(TableName="state", Item=item)
    denied(ddb.put_item, TableName="other", Item=item)
    message = denied(ddb.delete_item, TableName="state", Key=item)
    assert "assumed-role/fn-role/fn" in message and "dynamodb:DeleteItem" in message
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "state", "Item": {"pk": {"S": "b"}}}},
            {
                "ConditionCheck": {
                    "TableName": "state",
                    "Key": item,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    denied(
        ddb.transact_write_items,
        TransactItems=[
            {
                "Update": {
                    "TableName": "state",
                    "Key": item,
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "x"}},
                }
            }
        ],
    )

    kinesis = session.client("kinesis")
    kinesis.put_record(StreamName="readings", Data=b"x", PartitionKey="k")
    denied(
        kinesis.put_records, StreamName="readings", Records=[{"Data": b"x", "PartitionKey": "k"}]
    )
    sqs = session.client("sqs")
    sqs.send_message(QueueUrl=queues["failed"], MessageBody="x")
    denied(sqs.send_message, QueueUrl=queues["other"], MessageBody="x")
    session.client("sns").publish(TopicArn=topic, Message="hi")
    denied(session.client("secretsmanager").get_secret_value, SecretId="nope")

    # the account's own key is the administrator
    admin_ddb.delete_item(TableName="state", Key=item)


def test_the_local_athena_authorizes_the_caller_on_the_workgroup(aws, monkeypatch):
    with AthenaServer(min_bytes_cutoff=0, max_concurrent_queries=1) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket="results")
        boto3.client("athena").create_work_group(
            Name="sensor",
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}},
        )
        workgroup = arn("athena", "workgroup/sensor")
        session = role_session([allow(["athena:StartQueryExecution"], workgroup)])
        athena = session.client("athena")
        query = athena.start_query_execution(QueryString="SELECT 1", WorkGroup="sensor")
        message = denied(athena.get_query_execution, QueryExecutionId=query["QueryExecutionId"])
        assert "assumed-role/fn-role/fn is not authorized to perform: athena:GetQueryExecution" in (
            message
        )
        assert workgroup in message
        denied(athena.start_query_execution, QueryString="SELECT 1", WorkGroup="primary")
        # the account's own key is the administrator
        boto3.client("athena").get_query_execution(QueryExecutionId=query["QueryExecutionId"])


def test_delete_objects_needs_delete_object_on_each_key(aws):
    boto3.client("s3").create_bucket(Bucket="results")
    for key in ("tables/a.parquet", "keep/b"):
        boto3.client("s3").put_object(Bucket="results", Key=key, Body=b"x")
    s3 = role_session([allow("s3:DeleteObject", "arn:aws:s3:::results/tables/*")]).client("s3")

    deleted = s3.delete_objects(Bucket="results", Delete={"Objects": [{"Key": "tables/a.parquet"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["tables/a.parquet"]
    refused = s3.delete_objects(Bucket="results", Delete={"Objects": [{"Key": "keep/b"}]})
    assert [e["Code"] for e in refused["Errors"]] == ["AccessDenied"]
