"""IAM for the local stand-ins that are not moto (the local Athena, the IoT data plane): who
signed a request, and whether the caller's identity policies allow an action on a resource.

The moto server holds the roles and the sessions and evaluates the policies with moto's own
evaluator (`POST /_localcloud/authorize`, localcloud/moto/authorization.py); `IamCheck` asks it.
A request signed with the account's own key (`CREDENTIALS`) is the administrator; a request
without a SigV4 `Authorization` header is not checked. The signature itself is not verified
here (moto verifies it on its own endpoints).

`role_credentials` / `role_client`: a session of a role, for what acts as one (the functions, the
Firehose delivery workers).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from localcloud.core.aws import ACCOUNT_ID, CREDENTIALS, PARTITION

AUTHORIZE_PATH = "/_localcloud/authorize"


def access_key_of(headers: Mapping[str, str]) -> str | None:
    """The access key id of a SigV4 `Authorization` header, or None."""
    authorization = headers.get("Authorization") or ""
    marker = "Credential="
    if marker not in authorization:
        return None
    return authorization.split(marker, 1)[1].split("/", 1)[0]


def denial(principal: str, action: str, resource: str) -> str:
    """AWS's message for an action no identity policy allows."""
    return (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    principal: str
    unknown_key: bool = False


class IamCheck:
    """Asks the moto server whether a request's caller may perform an action."""

    def __init__(self, moto_endpoint: str | None = None) -> None:
        self.moto_endpoint = moto_endpoint

    @property
    def url(self) -> str:
        """The moto server's question endpoint: the given one, else the IAM endpoint of the
        environment (`AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL`) at the time of asking."""
        endpoint = (
            self.moto_endpoint
            or os.environ.get("AWS_ENDPOINT_URL_IAM")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        if not endpoint:
            raise RuntimeError("no local IAM endpoint (AWS_ENDPOINT_URL) to authorize against")
        return f"{endpoint.rstrip('/')}{AUTHORIZE_PATH}"

    def check(self, headers: Mapping[str, str], action: str, resource: str) -> Verdict | None:
        """None for a request that is not checked (unsigned); else moto's verdict."""
        key = access_key_of(headers)
        if key is None:
            return None
        if key == CREDENTIALS["AWS_ACCESS_KEY_ID"]:
            return Verdict(True, f"arn:{PARTITION}:iam::{ACCOUNT_ID}:root")
        question = {
            "AccessKeyId": key,
            "SessionToken": headers.get("X-Amz-Security-Token", ""),
            "Action": action,
            "Resource": resource,
        }
        request = urllib.request.Request(  # noqa: S310 - the local moto server
            self.url, data=json.dumps(question).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            answer = json.loads(reply.read())
        return Verdict(
            bool(answer["Allowed"]), str(answer["Principal"]), bool(answer.get("Reason"))
        )


def role_credentials(role_arn: str, session_name: str, sts: Any = None) -> dict[str, str]:
    """A session of a role (STS AssumeRole, as the account), as the environment variables
    Lambda sets: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`."""
    if not role_arn.startswith("arn:"):
        raise ValueError(f"{session_name}: {role_arn!r} is not a role ARN")
    sts = sts or boto3.client("sts")
    session = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])
    credentials = session["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def role_client(service: str, role_arn: str, session_name: str) -> Any:
    """A boto3 client (endpoints from the environment) acting as a session of the role."""
    credentials = role_credentials(role_arn, session_name)
    return boto3.client(
        service,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )
