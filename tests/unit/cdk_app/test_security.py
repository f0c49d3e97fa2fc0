"""Security checks across the project: nothing secret is committed, cdk-nag's report from the real
`cdk synth` is clean, and OpenSearch can be reached only from inside its VPC.

Checked elsewhere and not repeated here: cdk-nag fails the synth on an unacknowledged finding and
every acknowledgement has a specific reason (test_checks.py); the device policy's exact resources
(test_ingest.py); every bucket blocks public access, is encrypted and denies plain HTTP
(test_storage.py); the VPC has no internet gateway or NAT, the domain sits in private subnets and
takes HTTPS on 443 only (test_search.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from localcloud.iot.ca import LocalCA
from tests.unit.cdk_app.support import ROOT, only, resources_of

# Written so that this file does not match itself.
PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]*(PRIVATE KEY|CERTIFICATE|KEY BLOCK)[A-Z0-9 ]*)-----"
)
AWS_ACCESS_KEY_ID = re.compile(rb"\b(AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b")
AWS_SECRET_ACCESS_KEY = re.compile(
    rb"(?i)aws_?secret_?(access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)
KEY_FILE_SUFFIXES = (".pem", ".key", ".crt", ".cer", ".der", ".p12", ".pfx", ".jks", ".keystore")
KEY_FILE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials")


def tracked_files() -> list[Path]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.decode(errors='replace').strip()}")
    return [ROOT / name for name in result.stdout.decode().split("\0") if name]


def secrets_in(content: bytes) -> list[tuple[int, str]]:
    """(line, what) for every PEM block and AWS credential in `content`."""
    found = []
    for pattern, what in (
        (PEM_BLOCK, "a PEM block"),
        (AWS_ACCESS_KEY_ID, "an AWS access key id"),
        (AWS_SECRET_ACCESS_KEY, "an AWS secret access key"),
    ):
        for match in pattern.finditer(content):
            found.append((content.count(b"\n", 0, match.start()) + 1, what))
    return found


def test_the_scan_finds_keys_certificates_and_credentials(tmp_path):
    """The scan below is live: a real key, certificate and AWS's documented example keys."""
    ca = LocalCA(tmp_path / "ca")
    device = ca.issue_device_certificate("sensehat-01")
    example_id = b"AKIA" + b"IOSFODNN7EXAMPLE"
    example_secret = b"aws_secret_access_key = " + b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert secrets_in(device.private_key.read_bytes()) == [(1, "a PEM block")]
    assert secrets_in(device.certificate.read_bytes())[0] == (1, "a PEM block")
    assert secrets_in(b"x\nid = " + example_id) == [(2, "an AWS access key id")]
    assert secrets_in(example_secret) == [(1, "an AWS secret access key")]


def test_no_key_certificate_or_aws_credential_is_committed():
    found: list[str] = []
    for path in tracked_files():
        relative = path.relative_to(ROOT).as_posix()
        if path.name in KEY_FILE_NAMES or path.name.lower().endswith(KEY_FILE_SUFFIXES):
            found.append(f"{relative}: a key or certificate file")
        if path.is_file():
            found += [f"{relative}:{line}: {what}" for line, what in secrets_in(path.read_bytes())]
    assert found == []


@pytest.mark.parametrize(
    "path",
    [
        ".localcloud/ca/ca.key",  # `make up`: the local CA and device keys
        ".localcloud/ca/devices/sensehat-01/private.pem.key",
        "out/summary.json",
        "cdk.out/SensorPipeline.template.json",
    ],
)
def test_what_the_local_cloud_writes_cannot_be_committed(path):
    """The local CA's keys and device certificates live under .localcloud/, which git ignores."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    assert result.returncode == 0, f"{path} is not ignored by git"


def test_cdk_nag_report_of_the_cli_synth_is_clean(cli_synth):
    """`cdk synth` (as `make synth` runs it) reports no AwsSolutions violation, and each
    suppressed one is acknowledged on the construct it concerns (or a parent inside the stack),
    never on the whole stack or app, with a reason."""
    report = json.loads((cli_synth / "validation-report.json").read_text())
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for suppressed in nag["suppressedViolations"]:
        where = suppressed["acknowledgedAt"]
        assert where.count("/") >= 1, f"{suppressed['ruleName']} acknowledged on {where}"
        for construct in suppressed["violatingConstructs"]:
            assert construct["constructPath"].startswith(where + "/") or (
                construct["constructPath"] == where
            ), f"{suppressed['ruleName']} acknowledged on {where}, not on its construct"
        assert suppressed["reason"].strip()


# --- OpenSearch only inside its VPC -----------------------------------------------------------


def _get_att_id(value: dict) -> str:
    return value["Fn::GetAtt"][0]


def test_opensearch_has_no_public_endpoint(template):
    """A domain with VPCOptions gets a VPC endpoint only; fine-grained access control is the gate
    (dashboards/README.md, "Access model")."""
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    assert domain["VPCOptions"]["SubnetIds"]
    assert domain["VPCOptions"]["SecurityGroupIds"]
    assert not domain.get("DomainEndpointOptions", {}).get("CustomEndpointEnabled", False)
    security = domain["AdvancedSecurityOptions"]
    assert security["Enabled"] is True
    assert security["InternalUserDatabaseEnabled"] is True


def test_opensearch_access_policy_does_not_require_signed_requests(template):
    """With fine-grained access control and the internal user database, the set-up function
    and people opening Dashboards authenticate with basic auth. A domain access policy that
    names IAM principals makes OpenSearch Service require SigV4 on every request ("Making and
    signing OpenSearch Service requests"), so those requests would get HTTP 403: the first
    deploy's set-up custom resource failed that way. The policy lets any principal through to
    fine-grained access control, inside the VPC only."""
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    (statement,) = domain["AccessPolicies"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": "*"}
    assert statement["Action"] == ["es:ESHttp*"]
    assert "Condition" not in statement


def test_opensearch_accepts_connections_only_from_its_client_security_group(template):
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    (domain_sg_ref,) = domain["VPCOptions"]["SecurityGroupIds"]
    domain_sg = _get_att_id(domain_sg_ref)
    groups = template.to_json()["Resources"]
    rules = list(groups[domain_sg]["Properties"].get("SecurityGroupIngress", []))
    rules += [
        r["Properties"]
        for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
        if _get_att_id(r["Properties"]["GroupId"]) == domain_sg
    ]
    sources = {_get_att_id(rule["SourceSecurityGroupId"]) for rule in rules}
    assert len(sources) == 1, rules
    for rule in rules:
        assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(rule), rule
    # The domain itself opens no connection (CDK's "disallow all" placeholder rule).
    (egress,) = groups[domain_sg]["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "255.255.255.255/32"


def test_only_in_vpc_clients_hold_the_client_security_group(template):
    """The client group is worn only by things inside the domain's private subnets: the
    Firehose delivery into the VPC, the in-VPC set-up function and the SSM-only tunnel host."""
    domain = only(template, "AWS::OpenSearchService::Domain")["Properties"]
    (domain_sg_ref,) = domain["VPCOptions"]["SecurityGroupIds"]
    domain_sg = _get_att_id(domain_sg_ref)
    (rule,) = [
        r["Properties"]
        for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
        if _get_att_id(r["Properties"]["GroupId"]) == domain_sg
    ]
    client_sg = _get_att_id(rule["SourceSecurityGroupId"])
    private = {ref["Ref"] for ref in domain["VPCOptions"]["SubnetIds"]}
    wearers: dict[str, set[str]] = {}
    for logical_id, resource in template.to_json()["Resources"].items():
        props = resource.get("Properties", {})
        placements = []
        if resource["Type"] == "AWS::Lambda::Function" and "VpcConfig" in props:
            placements.append(props["VpcConfig"])
        if resource["Type"] == "AWS::KinesisFirehose::DeliveryStream":
            for destination in props.values():
                if isinstance(destination, dict) and "VpcConfiguration" in destination:
                    placements.append(destination["VpcConfiguration"])
        if resource["Type"] == "AWS::EC2::Instance":
            assert "NetworkInterfaces" not in props  # no public IP through an interface
            placements.append({**props, "SubnetIds": [props["SubnetId"]]})
        for placement in placements:
            groups = {_get_att_id(g) for g in placement.get("SecurityGroupIds", [])}
            if client_sg in groups:
                wearers[logical_id] = {ref["Ref"] for ref in placement["SubnetIds"]}
    kinds = sorted({template.to_json()["Resources"][w]["Type"] for w in wearers})
    assert "AWS::KinesisFirehose::DeliveryStream" in kinds, kinds
    for logical_id, subnets in wearers.items():
        assert subnets <= private, (
            f"{logical_id} wears the client group outside the domain's subnets"
        )
