"""Pre-deploy checks against a moto server (the `aws` fixture): STS, IAM, CloudWatch Logs, IoT,
CloudFormation, SSM and QuickSight as moto serves them; OpenSearch and Lambda, which moto does
not serve, stubbed. Also the exit status of `python -m cdk_app.preflight`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

from cdk_app.preflight import checks
from cdk_app.preflight.__main__ import main
from cdk_app.preflight.checks import Status
from cdk_app.preflight.context import ROOT
from cdk_app.preflight.runner import SessionClients
from localcloud.core.aws import ACCOUNT_ID, REGION

pytestmark = pytest.mark.integration

POLICY = json.dumps({"Version": "2012-10-17", "Statement": []})


def bootstrap(version: int, *, qualifier: str = "hnb659fds") -> None:
    """A CDKToolkit stack that writes its version parameter, as `cdk bootstrap` does."""
    template = {
        "Resources": {
            "CdkBootstrapVersion": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Type": "String",
                    "Name": f"/cdk-bootstrap/{qualifier}/version",
                    "Value": str(version),
                },
            }
        },
        "Outputs": {"BootstrapVersion": {"Value": str(version)}},
    }
    boto3.client("cloudformation").create_stack(
        StackName="CDKToolkit", TemplateBody=json.dumps(template)
    )


def check_bootstrap(required: int = 6):
    return checks.check_bootstrap(
        boto3.client("cloudformation"),
        boto3.client("ssm"),
        account=ACCOUNT_ID,
        region=REGION,
        qualifier="hnb659fds",
        required=required,
    )


# --- credentials -----------------------------------------------------------------------------


def test_credentials_name_the_account_and_region(aws):
    result, identity = checks.check_credentials(boto3.client("sts"), REGION)
    assert result.status is Status.PASS
    assert identity == checks.Identity(
        account=ACCOUNT_ID,
        arn=f"arn:aws:sts::{ACCOUNT_ID}:user/moto",
        partition="aws",
        region=REGION,
    )


def test_no_region_fails_and_stops_the_other_checks(aws, monkeypatch, capsys):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL  credentials          no region configured -> export AWS_REGION" in out
    assert "stopped: the other checks need credentials and a region" in out
    assert "cdk bootstrap" not in out


# --- CDK bootstrap ---------------------------------------------------------------------------


def test_no_bootstrap_stack_fails_with_the_bootstrap_command(aws):
    result = check_bootstrap()
    assert result.status is Status.FAIL
    assert result.message.startswith(f"no CDKToolkit stack in {ACCOUNT_ID}/{REGION}")
    assert result.remedy.startswith(f"run `npx cdk bootstrap aws://{ACCOUNT_ID}/{REGION}`")


def test_an_old_bootstrap_version_fails(aws):
    bootstrap(5)
    result = check_bootstrap(required=6)
    assert result.status is Status.FAIL
    assert result.message == "bootstrap version 5; this app's template needs 6 or later"
    assert "upgrades the stack in place" in result.remedy


def test_a_current_bootstrap_passes(aws):
    bootstrap(27)
    result = check_bootstrap(required=6)
    assert result.status is Status.PASS
    assert result.message == "CDKToolkit CREATE_COMPLETE, version 27 (needs 6+)"


def test_a_bootstrap_with_another_qualifier_fails(aws):
    bootstrap(27, qualifier="custom123")
    result = check_bootstrap()
    assert result.status is Status.FAIL
    assert "/cdk-bootstrap/hnb659fds/version does not" in result.message


# --- OpenSearch service-linked role ----------------------------------------------------------


def test_a_missing_service_linked_role_fails_and_fix_creates_it_once(aws):
    iam = boto3.client("iam")
    missing = checks.check_search_service_linked_role(iam, fix=False)
    assert missing.status is Status.FAIL
    assert "CloudFormation does not create it for a VPC domain" in missing.message
    assert "ARGS=--fix" in missing.remedy

    created = checks.check_search_service_linked_role(iam, fix=True)
    assert created.message == (
        "created the service-linked role AWSServiceRoleForAmazonOpenSearchService (--fix)"
    )
    again = checks.check_search_service_linked_role(iam, fix=True)
    assert again.message == "service-linked role AWSServiceRoleForAmazonOpenSearchService exists"
    roles = iam.list_roles(PathPrefix="/aws-service-role/opensearchservice.amazonaws.com/")
    assert len(roles["Roles"]) == 1
    assert checks.check_search_service_linked_role(iam, fix=False).status is Status.PASS


# --- CloudWatch Logs resource policies -------------------------------------------------------


def put_policies(count: int, *names: str) -> None:
    logs = boto3.client("logs")
    for name in [*names, *(f"other-{i}" for i in range(count - len(names)))]:
        logs.put_resource_policy(policyName=name, policyDocument=POLICY)


def check_logs():
    return checks.check_log_resource_policies(
        boto3.client("logs"), policy_name="SensorPipeline-opensearch-logs", region=REGION
    )


def test_ten_resource_policies_leave_no_room_for_the_stacks(aws):
    put_policies(10)
    result = check_logs()
    assert result.status is Status.FAIL
    assert result.message.startswith(f"10 of 10 resource policies used in {REGION} (other-0, ")
    assert "aws logs delete-resource-policy" in result.remedy


def test_nine_resource_policies_leave_room_for_one(aws):
    put_policies(9)
    assert check_logs().status is Status.PASS


def test_the_stacks_own_policy_among_ten_is_an_update(aws):
    put_policies(10, "SensorPipeline-opensearch-logs")
    result = check_logs()
    assert result.status is Status.PASS
    assert "SensorPipeline-opensearch-logs exists (the deploy updates it)" in result.message


# --- IoT -------------------------------------------------------------------------------------


def test_the_iot_data_ats_endpoint_is_named(aws):
    result = checks.check_iot_endpoint(boto3.client("iot"), region=REGION)
    assert result.status is Status.PASS
    assert "-ats.iot." in result.message


def check_things(*names: str, stack_id: str = "SensorPipeline"):
    return checks.check_device_things(
        boto3.client("iot"), boto3.client("cloudformation"), device_names=names, stack_id=stack_id
    )


def test_free_thing_names_pass(aws):
    result = check_things("pi-1", "pi-2")
    assert result.status is Status.PASS
    assert result.message == "new: pi-1, pi-2"


def test_a_thing_made_outside_cloudformation_fails(aws):
    boto3.client("iot").create_thing(thingName="pi-2")
    result = check_things("pi-1", "pi-2")
    assert result.status is Status.FAIL
    assert result.message == (
        "already a thing elsewhere in this account and region: pi-2 (made outside CloudFormation)"
    )


# --- QuickSight ------------------------------------------------------------------------------


def check_quicksight(arn: str, account: str = ACCOUNT_ID):
    return checks.check_quicksight_principal(
        lambda region: boto3.client("quicksight", region_name=region),
        principal_arn=arn,
        account=account,
    )


def test_a_missing_quicksight_user_fails_and_an_existing_one_passes(aws):
    arn = f"arn:aws:quicksight:{REGION}:{ACCOUNT_ID}:user/default/alice"
    missing = check_quicksight(arn)
    assert missing.status is Status.FAIL
    assert missing.message.startswith("no QuickSight user 'alice' in namespace default")
    assert "aws quicksight list-users" in missing.remedy

    boto3.client("quicksight").register_user(
        IdentityType="QUICKSIGHT",
        Email="alice@example.com",
        UserRole="AUTHOR",
        AwsAccountId=ACCOUNT_ID,
        Namespace="default",
        UserName="alice",
    )
    assert check_quicksight(arn).status is Status.PASS


def test_a_missing_quicksight_group_fails(aws):
    result = check_quicksight(f"arn:aws:quicksight:{REGION}:{ACCOUNT_ID}:group/default/analysts")
    assert result.status is Status.FAIL
    assert "no QuickSight group 'analysts'" in result.message


def test_a_quicksight_principal_of_another_account_fails(aws):
    result = check_quicksight(f"arn:aws:quicksight:{REGION}:999999999999:user/default/alice")
    assert result.status is Status.FAIL
    assert "is in account 999999999999" in result.message


def test_no_quicksight_principal_needs_no_check(aws):
    assert check_quicksight("").status is Status.PASS


# --- before `cdk destroy` --------------------------------------------------------------------


def test_destroy_stops_when_the_stack_is_not_there(aws, capsys):
    assert main(["--destroy", "-c", "stage=dev"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  stack                no stack SensorPipeline-dev in {ACCOUNT_ID}/{REGION}" in out


def test_destroy_names_what_the_deployed_template_keeps(aws, capsys):
    template = {
        "Resources": {
            "DataBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
            "Queue": {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete"},
        }
    }
    boto3.client("cloudformation").create_stack(
        StackName="SensorPipeline", TemplateBody=json.dumps(template)
    )
    bucket = boto3.client("s3").list_buckets()["Buckets"][0]["Name"]
    assert main(["--destroy"]) == 0
    out = capsys.readouterr().out
    assert "PASS  stack                SensorPipeline is CREATE_COMPLETE" in out
    assert f"PASS  kept after destroy   bucket {bucket} (retainData=true in the settings" in out


# --- the whole run and its exit status -------------------------------------------------------


class MotoAndStubs(SessionClients):
    """moto for what it serves; OpenSearch and Lambda answered by stubs, as AWS would."""

    def __init__(self, layer_found: bool = True) -> None:
        super().__init__(boto3.session.Session())
        self.stubs: dict[str, Stubber] = {}
        self.layer_found = layer_found

    def __call__(self, service: str, region: str | None = None):
        client = super().__call__(service, region)
        if service in {"opensearch", "lambda"} and service not in self.stubs:
            stubber = Stubber(client)
            if service == "opensearch":
                stubber.add_response("list_versions", {"Versions": ["OpenSearch_2.19"]})
                stubber.add_response(
                    "list_instance_type_details",
                    {"InstanceTypeDetails": [{"InstanceType": "t3.small.search"}]},
                )
            elif self.layer_found:
                stubber.add_response("get_layer_version_by_arn", {"Version": 27})
            else:
                stubber.add_client_error(
                    "get_layer_version_by_arn", service_error_code="ResourceNotFoundException"
                )
            stubber.activate()
            self.stubs[service] = stubber
        return client


def test_a_fresh_account_fails_then_passes_once_bootstrapped_and_fixed(aws, capsys):
    assert main(["-c", "deviceNames=pi-1,pi-2"], clients=MotoAndStubs()) == 1
    out = capsys.readouterr().out
    failed = [line.split()[1] for line in out.splitlines() if line.startswith("FAIL")]
    assert failed == ["cdk", "opensearch"]  # cdk bootstrap, opensearch role
    assert out.rstrip().endswith("not ready for cdk deploy; fix the FAIL lines first")

    bootstrap(27)
    assert main(["-c", "deviceNames=pi-1,pi-2", "--fix"], clients=MotoAndStubs()) == 0
    assert main(["-c", "deviceNames=pi-1,pi-2"], clients=MotoAndStubs()) == 0
    out = capsys.readouterr().out
    assert "created the service-linked role" in out
    assert out.rstrip().endswith("10 PASS, 0 WARN, 0 FAIL: ready for cdk deploy")


def test_a_missing_layer_alone_fails_the_run(aws, capsys):
    bootstrap(27)
    boto3.client("iam").create_service_linked_role(AWSServiceName="opensearchservice.amazonaws.com")
    assert main([], clients=MotoAndStubs(layer_found=False)) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1
    assert failed[0].startswith("FAIL  powertools layer     ")
    assert "version 27 is not published in us-east-1" in failed[0]


def test_the_module_runs_from_the_command_line_and_exits_1_on_a_failure(aws):
    env = {**os.environ, "AWS_MAX_ATTEMPTS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "cdk_app.preflight", "-c", "stage=dev", "--hotswap"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "(for cdk only, not used by the preflight: --hotswap)"
    assert lines[1].startswith("Preflight for `cdk deploy` of stack SensorPipeline-dev")
    assert any(line.startswith("FAIL  cdk bootstrap") for line in lines)
    # moto serves neither OpenSearch's offering nor Lambda layers: those checks could not be made.
    assert any(line.startswith("WARN  opensearch offering") for line in lines)
    assert lines[-1].startswith("preflight: ")
