"""IAM enforcement in the moto server: a request signed with an assumed role's credentials is
authorized against that role's policies; a denied one gets the service's AccessDenied error.

What moto 5.2.5 does on its own (`INITIAL_NO_AUTH_ACTION_COUNT`, moto/core/authorization.py and
moto/iam/access_control.py), found by reading it and probing the server:
- The switch is process-wide and counts requests: after the first N requests every request is
  checked, there is no per-identity exemption. Its access keys are random (`AKIA...` for users,
  `ASIA...` for sessions), so a fixed bootstrap key would need a seeded user, lost on every
  `/moto-api/reset`.
- The action is `<signing name>:<operation>`: CloudWatch's `PutMetricData` becomes
  `monitoring:PutMetricData` (IAM's is `cloudwatch:...`), DynamoDB's `TransactWriteItems` is
  checked as `dynamodb:TransactWriteItems`, which is not an IAM action (AWS checks PutItem,
  UpdateItem, DeleteItem, ConditionCheckItem per item and table).
- The resource is the bucket/object ARN for S3 and the queue ARN for SQS; every other service
  (DynamoDB, Kinesis, SNS, Glue, Secrets Manager, IoT, Logs, ...) is checked against the
  resource `*`, which a resource-scoped statement (`table/X`, what CDK's grants write) never
  matches: every least-privilege role would be denied everything.
- An `Allow` statement whose `Condition` is not met answers DENIED (an explicit deny) instead of
  not applying; condition keys come only from the request parameters.
- Identity policies only, plus one resource policy: S3 applies a bucket policy's explicit Deny
  to object reads, writes and deletes (for every caller); an Allow in a bucket, queue, topic or
  key policy grants nothing. Permission boundaries, SCPs, session policies and trust policies
  (AssumeRole by the account) are not consulted; session expiry is not checked.

So the local cloud enables moto's check itself, per request, here:
- A request signed with the account's own key (`localcloud.core.aws.CREDENTIALS`: the deployer,
  the local services acting as AWS, tests and the demo) is the account's administrator and is
  not checked. A request without a SigV4 `Authorization` header is not checked either.
- Any other key goes through moto's access key lookup and signature check (an unknown key gets
  `InvalidClientTokenId` / `InvalidAccessKeyId`), then moto's policy evaluator (`IAMPolicy`)
  over the caller's identity policies, with:
  - the IAM action name (`cloudwatch:` for `monitoring:`; a DynamoDB transaction needs each
    item's action on each item's table; a batch, its action on each table);
  - the resource ARN for S3 and SQS (moto's; DeleteObjects: s3:DeleteObject on each key, where
    moto checks the bucket), DynamoDB tables (and indexes), Kinesis streams and
    SNS topics; other services are matched on the action only (a statement's `Resource` is
    taken to match);
  - conditions as moto evaluates them (the pipeline's role policies have none).
- `POST /_localcloud/authorize` answers the same question for the stand-ins that are not moto
  (the local Athena, the IoT data plane; localcloud/core/iam.py asks it):
  `{"AccessKeyId", "SessionToken", "Action", "Resource"}` ->
  `{"Allowed": bool, "Principal": "<caller ARN>"}`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse
from xml.etree import ElementTree

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.iam.access_control import (
    AssumedRoleAccessKey,
    CreateAccessKeyFailure,
    IAMPolicy,
    IAMRequestBase,
    IAMUserAccessKey,
    PermissionResult,
    create_access_key,
)

from localcloud.core.aws import ACCOUNT_ID, CREDENTIALS, PARTITION, arn
from localcloud.core.iam import access_key_of, denial

ADMIN_ACCESS_KEY = CREDENTIALS["AWS_ACCESS_KEY_ID"]
SIGNING_NAME_TO_IAM = {"monitoring": "cloudwatch"}
TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
BATCH_ACTIONS = {"BatchWriteItem", "BatchGetItem"}


def permissions(service: str, action: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs a request needs; resource `""` means "match on the
    action only". `service` is the SigV4 signing name, `action` the API operation."""
    prefix = SIGNING_NAME_TO_IAM.get(service, service)
    if prefix == "dynamodb":
        return dynamodb_permissions(action, body)
    if prefix == "kinesis":
        stream = body.get("StreamARN") or (
            arn("kinesis", f"stream/{body['StreamName']}") if body.get("StreamName") else ""
        )
        return [(f"kinesis:{action}", str(stream))]
    if prefix == "sns" and body.get("TopicArn"):
        return [(f"sns:{action}", str(body["TopicArn"]))]
    return [(f"{prefix}:{action}", "")]


def table_arn(name: str) -> str:
    return name if name.startswith("arn:") else arn("dynamodb", f"table/{name}")


def dynamodb_permissions(action: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    if action in ("TransactWriteItems", "TransactGetItems"):
        needed: list[tuple[str, str]] = []
        for item in body.get("TransactItems", []):
            for kind, detail in item.items():
                verb = TRANSACT_ITEM_ACTIONS.get(kind, kind)
                needed.append((f"dynamodb:{verb}", table_arn(str(detail.get("TableName", "")))))
        return needed
    if action in BATCH_ACTIONS:
        return [(f"dynamodb:{action}", table_arn(t)) for t in body.get("RequestItems", {})]
    table = body.get("TableName") or body.get("TableArn") or body.get("ResourceArn")
    if not table:
        return [(f"dynamodb:{action}", "")]
    resource = table_arn(str(table))
    if body.get("IndexName"):
        resource += f"/index/{body['IndexName']}"
    return [(f"dynamodb:{action}", resource)]


def policies_allow(policies: list[Any], action: str, resource: str) -> bool:
    """moto's evaluation of identity policies: an explicit deny wins, else any allow. With
    `resource=""` statements are matched on their action only."""
    permitted = False
    for policy in policies:
        iam_policy = IAMPolicy(policy)
        if not resource:
            iam_policy = IAMPolicy(json.dumps(action_only(iam_policy._policy_json)))
        result = iam_policy.is_action_permitted(action, resource or "*")
        if result == PermissionResult.DENIED:
            return False
        if result == PermissionResult.PERMITTED:
            permitted = True
    return permitted


def action_only(document: dict[str, Any]) -> dict[str, Any]:
    """The policy with every statement's `Resource` widened to `*` (NotResource dropped)."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    widened = []
    for statement in statements:
        kept = {k: v for k, v in statement.items() if k != "NotResource"}
        widened.append({**kept, "Resource": "*"})
    return {**document, "Statement": widened}


def _authorize(self: Any, iam_request_cls: type[IAMRequestBase], resource: str = "*") -> None:
    """Replaces `ActionAuthenticatorMixin._authenticate_and_authorize_action`."""
    key = access_key_of(self.headers)
    if key is None or key == ADMIN_ACCESS_KEY:
        return
    path = self.raw_path
    query = urlparse(self.uri).query
    if query:
        path += "?" + query
    action = self._get_action()
    request = iam_request_cls(
        account_id=self.current_account,
        method=self.method,
        path=path,
        data=self.data,
        body=self.raw_body,
        headers=self.headers,
        action=action,
    )
    request.check_signature()
    if request._action == "sts:GetCallerIdentity":
        return
    service, operation = request._action.split(":", 1)
    if request._action == "s3:DeleteObject" and "/" not in resource.split(":::", 1)[-1]:
        needed = [(request._action, f"{resource}/{key}") for key in deleted_keys(self.raw_body)]
    elif service in ("s3", "sqs", "iam", "sts"):  # moto knows the resource
        needed = [(request._action, resource)]
    else:
        needed = permissions(service, operation, _json_body(self.raw_body))
    policies = request._access_key.collect_policies()
    for needed_action, needed_resource in needed:
        if policies_allow(policies, needed_action, needed_resource):
            continue
        if service == "s3" or "X-Amz-Target" not in self.headers:
            request._action = needed_action  # moto's XML error (S3, query protocols)
            request._raise_access_denied()
        raise JsonRESTError(
            "AccessDeniedException",
            denial(request._access_key.arn, needed_action, needed_resource or "*"),
        )


def deleted_keys(body: Any) -> list[str]:
    """The keys of an S3 DeleteObjects request (`<Delete><Object><Key>...`)."""
    try:
        root = ElementTree.fromstring(body or b"")  # noqa: S314 - a local client's request
    except ElementTree.ParseError:
        return [""]
    return [element.text or "" for element in root.iter() if element.tag.endswith("Key")]


def _json_body(raw: Any) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def install() -> None:
    """Turn the check on in this (the moto server's) process."""
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize  # type: ignore[method-assign]


def authorize(request: dict[str, Any]) -> dict[str, Any]:
    """`POST /_localcloud/authorize`: may this access key perform `Action` on `Resource`?"""
    key = str(request.get("AccessKeyId", ""))
    if key == ADMIN_ACCESS_KEY:
        return {"Allowed": True, "Principal": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:root"}
    headers = {"X-Amz-Security-Token": str(request.get("SessionToken", ""))}
    if not headers["X-Amz-Security-Token"]:
        del headers["X-Amz-Security-Token"]
    try:
        access_key: IAMUserAccessKey | AssumedRoleAccessKey = create_access_key(
            account_id=ACCOUNT_ID, partition=PARTITION, access_key_id=key, headers=headers
        )
    except CreateAccessKeyFailure as err:
        return {"Allowed": False, "Principal": "", "Reason": err.reason}
    allowed = policies_allow(
        access_key.collect_policies(), str(request["Action"]), str(request.get("Resource", ""))
    )
    return {"Allowed": allowed, "Principal": access_key.arn}
