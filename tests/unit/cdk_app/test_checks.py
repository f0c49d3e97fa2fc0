"""cdk-nag, CloudFormation validation and cfn-lint on the real synthesized app."""

import json
import subprocess
import sys

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

import cdk_app.compaction
from cdk_app.secure_defaults import UnreviewedWildcardError, acknowledge_wildcards
from tests.unit.cdk_app.support import synth_stack


def test_cdk_nag_fails_on_an_unacknowledged_wildcard():
    """The checks are live: a new wildcard nobody reviewed breaks the synth."""
    app, stack = synth_stack()
    stack.compaction.function.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::someone-else/*"])
    )
    with pytest.raises(Exception, match="AwsSolutions-IAM5"):
        app.synth()


def test_a_wildcard_granted_before_the_acknowledgement_fails_the_synth(monkeypatch):
    """The reviewed list is frozen: a grant made before acknowledge_wildcards runs is not
    acknowledged along with the rest (it used to be, silently)."""

    def grant_then_acknowledge(role, reason, reviewed):
        role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
        acknowledge_wildcards(role, reason, reviewed)

    monkeypatch.setattr(cdk_app.compaction, "acknowledge_wildcards", grant_then_acknowledge)
    with pytest.raises(UnreviewedWildcardError, match=r"Action::s3:\*") as caught:
        synth_stack()
    assert "Compaction/CompactorRole" in str(caught.value)


def test_a_reviewed_wildcard_the_policy_no_longer_has_fails_the_synth(monkeypatch):
    def acknowledge_more(role, reason, reviewed):
        acknowledge_wildcards(role, reason, [*reviewed, "Resource::<Gone.Arn>/*"])

    monkeypatch.setattr(cdk_app.compaction, "acknowledge_wildcards", acknowledge_more)
    with pytest.raises(UnreviewedWildcardError, match=r"listed but not in the policy.*Gone"):
        synth_stack()


def test_every_acknowledgement_has_a_specific_reason():
    _app, stack = synth_stack()
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ours = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in entry.data.items():
                    if rule.startswith("AwsSolutions::"):
                        ours[f"{construct.node.path} {rule}"] = reason
    assert len(ours) >= 10
    for where, reason in ours.items():
        assert len(reason) >= 40, f"{where}: reason too short to be specific: {reason!r}"


def test_cfn_lint_reports_no_errors(cli_synth):
    template = cli_synth / "SensorPipeline.template.json"
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    assert result.returncode & 2 == 0, result.stdout


def test_offline_cli_synth_writes_the_template_and_assets(cli_synth):
    template = json.loads((cli_synth / "SensorPipeline.template.json").read_text())
    assert "AWS::IoT::TopicRule" in {r["Type"] for r in template["Resources"].values()}
    assets = json.loads((cli_synth / "SensorPipeline.assets.json").read_text())
    folders = [a["source"]["path"] for a in assets["files"].values()]
    for folder in folders:
        assert (cli_synth / folder).exists()
