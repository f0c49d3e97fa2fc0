"""The deployed domain's access rules: its access policy and fine-grained access control."""

from __future__ import annotations

import base64
import json

import pytest

from localcloud.opensearch.access import DomainAccess, basic_auth, secret_reference

ROLE = "arn:aws:iam::123456789012:role/firehose"
OPEN = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:ESHttp*"}]}
ROLES = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": [ROLE]}, "Action": "es:ESHttp*"}]}
SIGNED = "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/es/aws4_request, Signature=x"


def domain(policy: dict, fgac: bool = True) -> DomainAccess:
    props = {
        "AccessPolicies": policy,
        "AdvancedSecurityOptions": {
            "Enabled": fgac,
            "InternalUserDatabaseEnabled": True,
            "MasterUserOptions": {"MasterUserName": "admin"},
        },
    }
    return DomainAccess.from_domain(props, "s3cret")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_policy_naming_roles_refuses_unsigned_requests_with_403():
    """The first-deploy bug: the set-up's basic-auth requests under a policy naming roles."""
    refused = domain(ROLES).refusal("PUT", basic("admin", "s3cret"))
    assert refused is not None and refused.status == 403
    message = json.loads(refused.body)["Message"]
    assert message.startswith("User: anonymous is not authorized to perform: es:ESHttpPut")
    assert domain(ROLES).refusal("POST", SIGNED) is None


def test_an_open_policy_leaves_authentication_to_fgac():
    access = domain(OPEN)
    assert access.refusal("GET", basic("admin", "s3cret")) is None
    assert access.refusal("POST", SIGNED) is None
    for header in (None, basic("admin", "wrong"), basic("nobody", "s3cret"), "Basic %%%"):
        refused = access.refusal("GET", header)
        assert refused is not None and refused.status == 401, header
        assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_without_fgac_an_open_policy_lets_everything_through():
    assert domain(OPEN, fgac=False).refusal("GET", None) is None


@pytest.mark.parametrize(
    ("principal", "signed_only"),
    [("*", False), (["*"], False), ([ROLE], True), (ROLE, True), ({"AWS": "*"}, False)],
)
def test_which_policies_require_signatures(principal, signed_only):
    statement = {"Effect": "Allow", "Action": "es:ESHttp*"}
    statement["Principal"] = principal if isinstance(principal, dict) else {"AWS": principal}
    assert domain({"Statement": [statement]}).signed_only is signed_only


def test_the_master_password_comes_from_the_secret_reference():
    secret = "arn:aws:secretsmanager:us-east-1:1:secret:m-AbC"
    reference = f"{{{{resolve:secretsmanager:{secret}:SecretString:password::}}}}"
    assert secret_reference(reference) == (
        "arn:aws:secretsmanager:us-east-1:1:secret:m-AbC",
        "password",
    )
    assert secret_reference("plain") is None


def test_the_local_clouds_clients_send_the_published_master_user():
    header = basic_auth({"OPENSEARCH_USER": "admin", "OPENSEARCH_PASSWORD": "s3cret"})
    assert header == {"Authorization": basic("admin", "s3cret")}
    assert basic_auth({}) == {}
