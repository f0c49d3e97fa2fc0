"""The resources moto stands in for: S3, DynamoDB, Glue, IAM, Secrets Manager, SNS, SQS and
CloudWatch Logs; moto's start-up (with the Kinesis API forwarded to kinesalite), and the restore
of the data kept from the previous run (localcloud/moto/state.py).

Each handler creates its resource in moto through boto3, as CloudFormation would through the
service's API, and answers `Ref` and `Fn::GetAtt` as CloudFormation documents them.

Differences from AWS:
- IAM roles and policies are stored in moto and enforced for role sessions (the functions'),
  not for the account's own key; see localcloud/moto/authorization.py for what is checked.
- Bucket and queue policies are applied without their TLS-only statements (Deny on
  `aws:SecureTransport` or `s3:TlsVersion`): the local endpoints speak plain HTTP on 127.0.0.1.
- SQS queues ignore their KMS settings (`KmsMasterKeyId`, `KmsDataKeyReusePeriodSeconds`).
- S3 lifecycle rules are not applied.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import REGION, arn
from localcloud.core.registry import CloudContext, CloudService, ServerService
from localcloud.kinesis.resources import Kinesis
from localcloud.moto.server import MotoServer

# --- storage ---------------------------------------------------------------------------------


def bucket(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    bucket = props.get("BucketName", name)
    deploy.clients("s3").create_bucket(Bucket=bucket)
    return {
        "ref": bucket,
        "attributes": {
            "Arn": arn("s3", bucket, region="", account=""),
            "DomainName": f"{bucket}.s3.amazonaws.com",
            "RegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
        },
    }


def bucket_policy(deploy: Deployer, _r: Resource, props: dict[str, Any], _name: str) -> Outcome:
    document = dict(props["PolicyDocument"])
    statements = [s for s in document["Statement"] if not denies_plain_http(s)]
    if statements:
        document["Statement"] = statements
        deploy.clients("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))
    return {"ref": props["Bucket"]}


def table(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    table = props.get("TableName", name)
    dynamodb = deploy.clients("dynamodb")
    args: dict[str, Any] = {
        "TableName": table,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    dynamodb.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return {"ref": table, "attributes": {"Arn": arn("dynamodb", f"table/{table}")}}


# --- the Glue catalog ------------------------------------------------------------------------


def glue_database(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    database = dict(props["DatabaseInput"])
    database.setdefault("Name", name)
    deploy.clients("glue").create_database(DatabaseInput=database)
    return {"ref": database["Name"]}


def glue_table(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    table = glue_parameters_as_strings(dict(props["TableInput"]))
    table.setdefault("Name", name)
    deploy.clients("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
    return {"ref": table["Name"]}


# --- IAM, secrets, logs ----------------------------------------------------------------------


def role(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    role = props.get("RoleName", name)
    iam = deploy.clients("iam")
    response = iam.create_role(
        RoleName=role,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        Description=props.get("Description", ""),
    )
    for policy in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=role,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    return {
        "ref": role,
        "attributes": {"Arn": response["Role"]["Arn"], "RoleId": response["Role"]["RoleId"]},
    }


def policy(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    policy = props.get("PolicyName", name)
    for role in props.get("Roles", []):
        deploy.clients("iam").put_role_policy(
            RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(props["PolicyDocument"])
        )
    return {"ref": policy}


def secret(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    secret_name = props.get("Name", name)
    value = props.get("SecretString") or generate_secret(props.get("GenerateSecretString"))
    response = deploy.clients("secretsmanager").create_secret(
        Name=secret_name, SecretString=value, Description=props.get("Description", "")
    )
    return {"ref": response["ARN"], "attributes": {"Id": response["ARN"]}}


def log_group(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    group = props.get("LogGroupName", f"/local/{name}")
    deploy.clients("logs").create_log_group(logGroupName=group)
    return {"ref": group, "attributes": {"Arn": arn("logs", f"log-group:{group}:*")}}


def log_stream(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    stream = props.get("LogStreamName", name)
    deploy.clients("logs").create_log_stream(
        logGroupName=props["LogGroupName"], logStreamName=stream
    )
    return {"ref": stream}


# --- SNS and SQS -----------------------------------------------------------------------------


def topic(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    topic_arn = deploy.clients("sns").create_topic(Name=props.get("TopicName", name))["TopicArn"]
    return {
        "ref": topic_arn,
        "attributes": {"TopicArn": topic_arn, "TopicName": topic_arn.rsplit(":", 1)[1]},
    }


def subscription(deploy: Deployer, _r: Resource, props: dict[str, Any], _name: str) -> Outcome:
    response = deploy.clients("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
    )
    return {"ref": response["SubscriptionArn"]}


def queue(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    fifo = bool(props.get("FifoQueue", False))
    queue = props.get("QueueName") or (f"{name[:75]}.fifo" if fifo else name[:80])
    sqs = deploy.clients("sqs")
    url = sqs.create_queue(QueueName=queue, Attributes=queue_attributes(props))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return {"ref": url, "attributes": {"Arn": queue_arn, "QueueName": queue, "QueueUrl": url}}


def queue_policy(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    document = dict(props["PolicyDocument"])
    statements = [s for s in document.get("Statement", []) if not denies_plain_http(s)]
    if statements:
        document["Statement"] = statements
        for url in props.get("Queues", []):
            deploy.clients("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(document)}
            )
    return {"ref": name}


SQS_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
)


def queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's queue properties as SQS attributes (strings; policies as JSON); KMS
    settings are left out."""
    attributes: dict[str, str] = {}
    for key in SQS_ATTRIBUTES:
        if key not in props:
            continue
        value = props[key]
        if isinstance(value, bool):
            attributes[key] = str(value).lower()
        elif isinstance(value, (dict, list)):
            attributes[key] = json.dumps(value)
        else:
            attributes[key] = str(value)
    return attributes


TRANSPORT_CONDITION_KEYS = {"aws:SecureTransport", "s3:TlsVersion"}


def denies_plain_http(statement: dict[str, Any]) -> bool:
    """A TLS-only statement (Deny on `aws:SecureTransport` or `s3:TlsVersion`): the local
    endpoints speak plain HTTP on 127.0.0.1, and moto evaluates bucket policies."""
    condition = statement.get("Condition", {})
    keys = {key for operator in condition.values() for key in operator}
    return statement.get("Effect") == "Deny" and bool(keys) and keys <= TRANSPORT_CONDITION_KEYS


def glue_parameters_as_strings(value: Any) -> Any:
    """CloudFormation takes JSON values in Glue `Parameters` maps; the Glue API takes strings
    (true -> "true"), as CloudFormation converts them."""
    if isinstance(value, list):
        return [glue_parameters_as_strings(v) for v in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, Any] = {}
    for key, inner in value.items():
        if key == "Parameters" and isinstance(inner, dict):
            converted[key] = {
                k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in inner.items()
            }
        else:
            converted[key] = glue_parameters_as_strings(inner)
    return converted


def generate_secret(spec: dict[str, Any] | None) -> str:
    """GenerateSecretString: a random password, optionally inside a JSON template. Locally the
    punctuation is only what a shell takes unquoted (`.localcloud/env` is sourced with `.`)."""
    spec = spec or {}
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = [c for c in string.ascii_letters + string.digits + "%+-.:=_" if c not in excluded]
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    template = spec.get("SecretStringTemplate")
    if template:
        value = json.loads(template)
        value[spec["GenerateStringKey"]] = password
        return json.dumps(value)
    return password


RESOURCE_TYPES: dict[str, ResourceHandler] = {
    "AWS::S3::Bucket": bucket,
    "AWS::S3::BucketPolicy": bucket_policy,
    "AWS::DynamoDB::Table": table,
    "AWS::Glue::Database": glue_database,
    "AWS::Glue::Table": glue_table,
    "AWS::IAM::Role": role,
    "AWS::IAM::Policy": policy,
    "AWS::SecretsManager::Secret": secret,
    "AWS::SNS::Topic": topic,
    "AWS::SNS::Subscription": subscription,
    "AWS::SQS::Queue": queue,
    "AWS::SQS::QueuePolicy": queue_policy,
    "AWS::Logs::LogGroup": log_group,
    "AWS::Logs::LogStream": log_stream,
}


class Moto(ServerService[MotoServer]):
    """The moto server; its endpoint and the local credentials go to every client. It keeps its
    data in `<state_dir>/moto/state.pickle`."""

    stopping = "moto (it saves its state)"

    label = "moto"
    resource_types = RESOURCE_TYPES

    def create(self, context: CloudContext) -> MotoServer:
        try:
            kinesis: str | None = context.service(Kinesis).endpoint
        except LookupError:
            kinesis = None  # moto's own Kinesis
        return MotoServer(
            context.port("moto"),
            log_path=context.state_dir / "moto.log",
            state=context.state_dir / "moto" / "state.pickle",
            kinesis_upstream=kinesis,
        )

    def checkpoints(self, consumer: str) -> str:
        """Where Kinesis consumers of a kind keep their checkpoints: in moto's state."""
        if self.server is None:
            raise RuntimeError("moto is not running")
        return self.server.checkpoints(consumer)


class KeptData(CloudService):
    """The data of the previous run (objects, items, messages, query tables, checkpoints), put
    into the resources just deployed, before anything reads them."""

    def start(self, context: CloudContext) -> None:
        server = context.service(Moto).server
        if server is None:
            raise RuntimeError("moto is not running")
        summary = server.restore()
        if not summary.get("restored"):
            return
        counts = ", ".join(f"{number} {kind}" for kind, number in summary["counts"].items())
        context.log(f"kept from the previous run: {counts}")
        for resource in summary.get("waiting", []):
            context.log(f"  kept until it is created: {resource}")
