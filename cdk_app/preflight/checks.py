"""One function per pre-deploy check; each takes the boto3 clients it asks and returns a Result.

A check handles the answers it expects (a missing stack, a missing role, a full quota) and lets
any other AWS error through: the runner turns that into a WARN ("could not check"), so a missing
read permission never blocks a deploy that would succeed. Every fact a check relies on is cited
where it is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import boto3
import botocore
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cdk_app.secure_defaults import (
    POWERTOOLS_ACCOUNT,
    POWERTOOLS_LAYER,
    powertools_layer_arn,
)


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check status, not a password
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Result:
    """One check's outcome: what was found and, unless it passed, what to do about it."""

    check: str
    status: Status
    message: str
    remedy: str = ""

    def line(self) -> str:
        text = f"{self.status.value:<4}  {self.check:<20} {self.message}"
        if self.remedy and self.status is not Status.PASS:
            text += f" -> {self.remedy}"
        return text


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def error_message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", ""))


def _pages(
    call: Callable[..., dict[str, Any]], key: str, token: str, **kwargs: Any
) -> Iterator[Any]:
    """Every item under `key` of a paginated list call (`token` is the API's NextToken name)."""
    while True:
        page = call(**kwargs)
        yield from page.get(key, [])
        if not page.get(token):
            return
        kwargs[token] = page[token]


def described_stack(cfn: BaseClient, stack_name: str) -> dict[str, Any] | None:
    """The stack's DescribeStacks entry, or None if CloudFormation says it does not exist
    (ValidationError "Stack with id ... does not exist"); any other error is raised."""
    try:
        return dict(cfn.describe_stacks(StackName=stack_name)["Stacks"][0])
    except ClientError as err:
        if error_code(err) == "ValidationError" and "does not exist" in error_message(err):
            return None
        raise


# --- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    partition: str
    region: str


def check_credentials(sts: BaseClient, region: str | None) -> tuple[Result, Identity | None]:
    """Who the credentials are (STS GetCallerIdentity needs no permission) and in which region
    the deploy would run (the CDK CLI takes it from the same profile or AWS_REGION)."""
    name = "credentials"
    if not region:
        return Result(
            name,
            Status.FAIL,
            "no region configured",
            "export AWS_REGION=<region>, or `aws configure set region <region>` for the profile",
        ), None
    caller = sts.get_caller_identity()
    arn = str(caller["Arn"])
    identity = Identity(
        account=str(caller["Account"]), arn=arn, partition=arn.split(":")[1], region=region
    )
    return Result(name, Status.PASS, f"account {identity.account} in {region} as {arn}"), identity


# --- CDK bootstrap ---------------------------------------------------------------------------

TOOLKIT_STACK = "CDKToolkit"
# Templates synthesized by CDK v2 refuse bootstrap versions below 6 (Rules.CheckBootstrapVersion).
MINIMUM_BOOTSTRAP_VERSION = 6
_USABLE_STACK = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}


def bootstrap_parameter(qualifier: str) -> str:
    """The SSM parameter the bootstrap stack writes its version to; the app's template reads it
    (Parameters.BootstrapVersion) and its CheckBootstrapVersion rule compares it."""
    return f"/cdk-bootstrap/{qualifier}/version"


def synthesized_template(cdk_out: Path, stack_id: str) -> dict[str, Any] | None:
    path = cdk_out / f"{stack_id}.template.json"
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text()))


def required_bootstrap_version(template: Mapping[str, Any] | None) -> int:
    """The lowest bootstrap version the template accepts.

    The CDK's default synthesizer adds `Rules.CheckBootstrapVersion`, which asserts
    `Fn::Not [Fn::Contains [[refused versions], Ref BootstrapVersion]]`; the first version not
    refused is the one needed. Without a synthesized template (no cdk.out/ yet): 6."""
    try:
        assertion = template["Rules"]["CheckBootstrapVersion"]["Assertions"][0]  # type: ignore[index]
        refused = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
        return max(int(version) for version in refused) + 1
    except (KeyError, IndexError, TypeError, ValueError):
        return MINIMUM_BOOTSTRAP_VERSION


def check_bootstrap(
    cfn: BaseClient,
    ssm: BaseClient,
    *,
    account: str,
    region: str,
    qualifier: str,
    required: int,
) -> Result:
    """The `CDKToolkit` stack exists and is usable, and its version is at least what the template
    requires (CDK developer guide, "Bootstrapping"). The version is the SSM parameter
    `/cdk-bootstrap/<qualifier>/version`, which the stack writes (its output `BootstrapVersion`
    says the same) and the template's CheckBootstrapVersion rule reads at deploy time."""
    name = "cdk bootstrap"
    bootstrap = f"npx cdk bootstrap aws://{account}/{region}"
    stack = described_stack(cfn, TOOLKIT_STACK)
    if stack is None:
        return Result(
            name,
            Status.FAIL,
            f"no {TOOLKIT_STACK} stack in {account}/{region}: cdk deploy has nowhere to put the "
            "template and the Lambda code",
            f"run `{bootstrap}` (once per account and region)",
        )
    status = str(stack["StackStatus"])
    parameter = bootstrap_parameter(qualifier)
    problem = _toolkit_problem(status, bootstrap) or _bootstrap_version(ssm, parameter, bootstrap)
    if isinstance(problem, Result):
        return problem
    version = problem
    if version < required:
        return Result(
            name,
            Status.FAIL,
            f"bootstrap version {version}; this app's template needs {required} or later",
            f"run `{bootstrap}` (upgrades the stack in place)",
        )
    return Result(
        name, Status.PASS, f"{TOOLKIT_STACK} {status}, version {version} (needs {required}+)"
    )


def _toolkit_problem(status: str, bootstrap: str) -> Result | None:
    """Why a CDKToolkit stack in this status cannot take a deploy, or None."""
    if status.endswith("_IN_PROGRESS"):
        return Result(
            "cdk bootstrap",
            Status.FAIL,
            f"{TOOLKIT_STACK} is {status}",
            "wait for it to finish, then rerun",
        )
    if status not in _USABLE_STACK:
        return Result(
            "cdk bootstrap",
            Status.FAIL,
            f"{TOOLKIT_STACK} is {status}",
            f"see its events in the CloudFormation console; delete it if it never completed, "
            f"then run `{bootstrap}`",
        )
    return None


def _bootstrap_version(ssm: BaseClient, parameter: str, bootstrap: str) -> int | Result:
    """The version the bootstrap stack recorded, or why there is none."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as err:
        if error_code(err) != "ParameterNotFound":
            raise
        return Result(
            "cdk bootstrap",
            Status.FAIL,
            f"{TOOLKIT_STACK} exists but the SSM parameter {parameter} does not (bootstrapped "
            "with another qualifier?)",
            f"run `{bootstrap}`",
        )
    try:
        return int(value)
    except ValueError:
        return Result(
            "cdk bootstrap",
            Status.FAIL,
            f"{parameter} is {value!r}, not a version",
            f"run `{bootstrap}`",
        )


# --- the region's services -------------------------------------------------------------------

REGION_SERVICES = {
    "iot": "IoT Core",
    "opensearch": "OpenSearch Service",
    "athena": "Athena",
    "firehose": "Data Firehose",
}
RegionsOf = Callable[[str, str], Sequence[str]]


def botocore_regions(service: str, partition: str) -> Sequence[str]:
    """The regions botocore's bundled endpoint data lists for a service (offline)."""
    return boto3.session.Session().get_available_regions(service, partition_name=partition)


def check_region_services(
    region: str, partition: str, regions_of: RegionsOf = botocore_regions
) -> Result:
    """The region offers every service the stack uses that not every region has, according to
    botocore's endpoint data (`Session.get_available_regions`)."""
    name = "region services"
    missing = [
        label
        for service, label in REGION_SERVICES.items()
        if region not in regions_of(service, partition)
    ]
    if missing:
        return Result(
            name,
            Status.FAIL,
            f"{region} does not offer {', '.join(missing)} (endpoint data of botocore "
            f"{botocore.__version__})",
            "deploy in a region that offers all four (AWS_REGION), or upgrade boto3 if the "
            "service has launched there since",
        )
    return Result(name, Status.PASS, f"{region} offers {', '.join(REGION_SERVICES.values())}")


# --- OpenSearch engine version and instance type ---------------------------------------------

_OPENSEARCH_VERSION = re.compile(r"^OpenSearch_(\d+)\.(\d+)$")


def newest_opensearch(versions: Sequence[str]) -> str | None:
    numbered = [
        (int(m.group(1)), int(m.group(2)), v)
        for v in versions
        if (m := _OPENSEARCH_VERSION.match(v))
    ]
    return max(numbered)[2] if numbered else None


def _instance_type_lacks(details: Mapping[str, Any], instance_count: int) -> list[str]:
    """What the domain uses that this instance type does not offer: encryption at rest,
    fine-grained access control (advanced security), application logs, the data role, and two
    availability zones when there is more than one node (cdk_app/search.py)."""
    lacking = []
    if details.get("EncryptionEnabled") is False:
        lacking.append("encryption at rest")
    if details.get("AdvancedSecurityEnabled") is False:
        lacking.append("fine-grained access control")
    if details.get("AppLogsEnabled") is False:
        lacking.append("application logs")
    roles = details.get("InstanceRole")
    if roles and "data" not in {str(role).lower() for role in roles}:
        lacking.append("the data node role")
    zones = details.get("AvailabilityZones")
    if instance_count > 1 and zones is not None and len(zones) < 2:
        lacking.append("two availability zones (searchInstanceCount > 1)")
    return lacking


def check_search_offering(
    opensearch: BaseClient,
    *,
    region: str,
    engine_version: str,
    instance_type: str,
    instance_count: int,
) -> Result:
    """The region offers `searchEngineVersion` (ListVersions) and `searchInstanceType` for it,
    with what the domain uses (ListInstanceTypeDetails)."""
    name = "opensearch offering"
    versions = list(_pages(opensearch.list_versions, "Versions", "NextToken", MaxResults=100))
    if engine_version not in versions:
        newest = newest_opensearch(versions)
        return Result(
            name,
            Status.FAIL,
            f"engine {engine_version} is not offered in {region}",
            f"-c searchEngineVersion={newest}" if newest else "pick a version OpenSearch offers",
        )
    details = list(
        _pages(
            opensearch.list_instance_type_details,
            "InstanceTypeDetails",
            "NextToken",
            EngineVersion=engine_version,
            RetrieveAZs=True,
            MaxResults=100,
        )
    )
    fitting = [d["InstanceType"] for d in details if not _instance_type_lacks(d, instance_count)]
    family = instance_type.split(".", maxsplit=1)[0]
    suggestions = [t for t in fitting if t.split(".", maxsplit=1)[0] == family] or sorted(fitting)
    remedy = (
        f"-c searchInstanceType=<one of {', '.join(suggestions[:5])}>"
        if suggestions
        else "pick another searchInstanceType"
    )
    found = next((d for d in details if d.get("InstanceType") == instance_type), None)
    if found is None:
        return Result(
            name,
            Status.FAIL,
            f"instance type {instance_type} is not offered for {engine_version} in {region}",
            remedy,
        )
    lacking = _instance_type_lacks(found, instance_count)
    if lacking:
        return Result(
            name,
            Status.FAIL,
            f"{instance_type} in {region} lacks {', '.join(lacking)}, which the domain uses",
            remedy,
        )
    return Result(name, Status.PASS, f"{engine_version} on {instance_type} in {region}")


# --- Powertools layer ------------------------------------------------------------------------

# Powertools' public SSM parameter: its value is the newest layer's ARN in the region.
POWERTOOLS_LATEST_PARAMETER = "/aws/service/powertools/python/x86_64/python3.13/latest"


def latest_powertools_version(ssm: BaseClient) -> int | None:
    """The newest Powertools layer version in the client's region, or None if unknown."""
    try:
        arn = ssm.get_parameter(Name=POWERTOOLS_LATEST_PARAMETER)["Parameter"]["Value"]
        return int(str(arn).rsplit(":", 1)[1])
    except (ClientError, IndexError, ValueError):
        return None


def check_powertools_layer(
    lambda_client: BaseClient, ssm: BaseClient, *, partition: str, region: str, version: int
) -> Result:
    """The layer version `powertoolsLayerVersion` is published in the region
    (`GetLayerVersionByArn`). Powertools publishes it from account 017000801446 in the commercial
    partition; for a version that is not published there, Lambda answers AccessDenied "because no
    resource-based policy allows the lambda:GetLayerVersion action" (the public layers' policy
    grants every version that exists), so that answer counts as missing."""
    name = "powertools layer"
    if partition != "aws":
        return Result(
            name,
            Status.FAIL,
            f"the stack uses the Powertools layer of account {POWERTOOLS_ACCOUNT}, which is "
            f"published in the commercial partition (aws), not in {partition}",
            "deploy in a commercial region, or publish Powertools for AWS Lambda (Python) as a "
            "layer in this partition and point powertools_layer_arn "
            "(cdk_app/secure_defaults.py) at it",
        )
    arn = powertools_layer_arn(partition, region, version)
    try:
        layer = lambda_client.get_layer_version_by_arn(Arn=arn)
    except ClientError as err:
        code, message = error_code(err), error_message(err)
        not_published = code == "ResourceNotFoundException" or (
            code == "AccessDeniedException" and "no resource-based policy" in message
        )
        if not not_published:
            raise
        latest = latest_powertools_version(ssm)
        return Result(
            name,
            Status.FAIL,
            f"{POWERTOOLS_LAYER} version {version} is not published in {region}",
            f"-c powertoolsLayerVersion={latest} (the newest in {region}; or set it in cdk.json)"
            if latest
            else "set powertoolsLayerVersion to a version the Powertools docs list (Lambda layers)",
        )
    description = str(layer.get("Description") or "").strip()
    return Result(
        name,
        Status.PASS,
        f"{POWERTOOLS_LAYER}:{version} in {region}" + (f" ({description})" if description else ""),
    )


# --- OpenSearch service-linked role ----------------------------------------------------------

SEARCH_SLR_NAME = "AWSServiceRoleForAmazonOpenSearchService"
SEARCH_SLR_PATH = "/aws-service-role/opensearchservice.amazonaws.com/"
SEARCH_SLR_SERVICE = "opensearchservice.amazonaws.com"


def _roles_under(iam: BaseClient, path: str) -> list[str]:
    return [
        str(role["RoleName"]) for role in _pages(iam.list_roles, "Roles", "Marker", PathPrefix=path)
    ]


def _already_exists(err: ClientError) -> bool:
    # IAM answers InvalidInput "Service role name ... has been taken in this account".
    code = error_code(err)
    return code == "EntityAlreadyExists" or (
        code == "InvalidInput" and "has been taken" in error_message(err)
    )


def check_search_service_linked_role(iam: BaseClient, *, fix: bool) -> Result:
    """OpenSearch Service's service-linked role, `AWSServiceRoleForAmazonOpenSearchService` at
    path `/aws-service-role/opensearchservice.amazonaws.com/` (OpenSearch Service developer
    guide, "Using service-linked roles"). A VPC domain needs it to place its network
    interfaces; CloudFormation does not create it, so on an account that never had an OpenSearch
    domain the domain fails after the stack has been creating for a while. `fix` creates it
    (`iam.create_service_linked_role(AWSServiceName="opensearchservice.amazonaws.com")`);
    creating it again is harmless."""
    name = "opensearch role"
    if _roles_under(iam, SEARCH_SLR_PATH):
        return Result(name, Status.PASS, f"service-linked role {SEARCH_SLR_NAME} exists")
    if not fix:
        return Result(
            name,
            Status.FAIL,
            f"service-linked role {SEARCH_SLR_NAME} is missing; CloudFormation does not create "
            "it for a VPC domain, so the OpenSearch domain would fail",
            "`make preflight ARGS=--fix` creates it (or `aws iam create-service-linked-role "
            f"--aws-service-name {SEARCH_SLR_SERVICE}`)",
        )
    try:
        iam.create_service_linked_role(AWSServiceName=SEARCH_SLR_SERVICE)
    except ClientError as err:
        if not _already_exists(err):
            raise
        return Result(name, Status.PASS, f"service-linked role {SEARCH_SLR_NAME} exists")
    return Result(name, Status.PASS, f"created the service-linked role {SEARCH_SLR_NAME} (--fix)")


# --- CloudWatch Logs resource policies -------------------------------------------------------

# CloudWatch Logs quotas: up to 10 resource policies per region per account, not adjustable.
LOG_RESOURCE_POLICY_QUOTA = 10


def check_log_resource_policies(logs: BaseClient, *, policy_name: str, region: str) -> Result:
    """The stack adds one CloudWatch Logs resource policy, `policy_name`; at the quota of 10 the
    domain's log publishing cannot be set up. An existing policy of that name is updated, not
    added."""
    name = "logs policy quota"
    names = [
        str(policy["policyName"])
        for policy in _pages(logs.describe_resource_policies, "resourcePolicies", "nextToken")
    ]
    used = f"{len(names)} of {LOG_RESOURCE_POLICY_QUOTA} resource policies used in {region}"
    if policy_name in names:
        return Result(name, Status.PASS, f"{used}; {policy_name} exists (the deploy updates it)")
    if len(names) >= LOG_RESOURCE_POLICY_QUOTA:
        return Result(
            name,
            Status.FAIL,
            f"{used} ({', '.join(sorted(names))}); the stack adds {policy_name}",
            "delete one no longer used: `aws logs delete-resource-policy --policy-name <name>` "
            "(the quota cannot be raised)",
        )
    return Result(name, Status.PASS, f"{used}; the stack adds {policy_name}")


# --- IoT Core endpoint -----------------------------------------------------------------------


def check_iot_endpoint(iot: BaseClient, *, region: str) -> Result:
    """The account's `iot:Data-ATS` endpoint, which the devices connect to
    (`iot.describe_endpoint(endpointType="iot:Data-ATS")`)."""
    address = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    return Result("iot endpoint", Status.PASS, f"devices will connect to {address} ({region})")


# --- QuickSight principal --------------------------------------------------------------------


@dataclass(frozen=True)
class QuickSightPrincipal:
    """`arn:<partition>:quicksight:<identity region>:<account>:(user|group)/<namespace>/<name>`"""

    region: str
    account: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> QuickSightPrincipal:
        parts = arn.split(":", 5)
        kind, namespace, name = parts[5].split("/", 2)
        return cls(region=parts[3], account=parts[4], kind=kind, namespace=namespace, name=name)


def check_quicksight_principal(
    quicksight_in: Callable[[str], BaseClient], *, principal_arn: str, account: str
) -> Result:
    """The user or group `quicksightPrincipalArn` names exists (DescribeUser / DescribeGroup).
    QuickSight keeps users and groups in the account's identity region, the region in the ARN,
    so the call goes there."""
    name = "quicksight principal"
    if not principal_arn:
        return Result(name, Status.PASS, "quicksightPrincipalArn is empty: no QuickSight resources")
    principal = QuickSightPrincipal.parse(principal_arn)
    if principal.account != account:
        return Result(
            name,
            Status.FAIL,
            f"{principal_arn} is in account {principal.account}, the deploy in {account}",
            "set quicksightPrincipalArn to a user or group of this account",
        )
    client = quicksight_in(principal.region)
    lookup = {"AwsAccountId": account, "Namespace": principal.namespace}
    listing = (
        f"aws quicksight list-{principal.kind}s --aws-account-id {account} "
        f"--namespace {principal.namespace} --region {principal.region}"
    )
    try:
        if principal.kind == "group":
            client.describe_group(GroupName=principal.name, **lookup)
        else:
            client.describe_user(UserName=principal.name, **lookup)
    except ClientError as err:
        code, message = error_code(err), error_message(err)
        if code == "ResourceNotFoundException":
            return Result(
                name,
                Status.FAIL,
                f"no QuickSight {principal.kind} {principal.name!r} in namespace "
                f"{principal.namespace} ({principal.region}): {message}",
                f"create it in QuickSight or fix quicksightPrincipalArn (`{listing}`); leave the "
                "setting empty for no QuickSight",
            )
        if code == "AccessDeniedException" and "not signed up" in message:
            return Result(
                name,
                Status.FAIL,
                f"account {account} has no QuickSight subscription: {message}",
                "sign up for QuickSight (Enterprise), or leave quicksightPrincipalArn empty",
            )
        raise
    return Result(name, Status.PASS, f"QuickSight {principal.kind} {principal.name} exists")


# --- device things ---------------------------------------------------------------------------

THING_TYPE = "AWS::IoT::Thing"


def _stack_things(cfn: BaseClient, stack_id: str) -> set[str]:
    """The thing names our stack already holds (ListStackResources pages past the 100 resources
    DescribeStackResources stops at); none if the stack does not exist yet."""
    try:
        return {
            str(resource.get("PhysicalResourceId"))
            for resource in _pages(
                cfn.list_stack_resources, "StackResourceSummaries", "NextToken", StackName=stack_id
            )
            if resource.get("ResourceType") == THING_TYPE
        }
    except ClientError as err:
        if error_code(err) == "ValidationError":
            return set()
        raise


def owning_stack(cfn: BaseClient, thing_name: str) -> str | None:
    """The stack that holds a resource with this physical id (DescribeStackResources with
    PhysicalResourceId; an IoT thing's physical id is its name), or None."""
    try:
        resources = cfn.describe_stack_resources(PhysicalResourceId=thing_name)["StackResources"]
    except ClientError as err:
        if error_code(err) == "ValidationError":
            return None
        raise
    return str(resources[0]["StackName"]) if resources else None


def check_device_things(
    iot: BaseClient, cfn: BaseClient, *, device_names: Sequence[str], stack_id: str
) -> Result:
    """Each `deviceNames` entry is either free or already a thing of this stack. CloudFormation
    cannot create a thing whose name exists: the AWS::IoT::Thing create handler calls
    DescribeThing first and fails with AlreadyExists if it answers (resource provider
    aws-cloudformation-resource-providers-iot, aws-iot-thing CreateHandler). A name is one thing
    per account and region, so another stage or stack cannot reuse it."""
    name = "device things"
    ours = _stack_things(cfn, stack_id)
    new, kept, taken = [], [], []
    for thing in device_names:
        try:
            iot.describe_thing(thingName=thing)
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            new.append(thing)
            continue
        owner = None if thing in ours else owning_stack(cfn, thing)
        if thing in ours or owner == stack_id:
            kept.append(thing)
            continue
        taken.append(
            f"{thing} (stack {owner})" if owner else f"{thing} (made outside CloudFormation)"
        )
    if taken:
        return Result(
            name,
            Status.FAIL,
            f"already a thing elsewhere in this account and region: {', '.join(taken)}",
            "choose other deviceNames (-c deviceNames=...), or delete the old thing if nothing "
            "uses it (`aws iot delete-thing --thing-name <name>`, after detaching its "
            "certificates)",
        )
    parts = [
        f"new: {', '.join(new)}" if new else "",
        f"in {stack_id}: {', '.join(kept)}" if kept else "",
    ]
    return Result(name, Status.PASS, "; ".join(p for p in parts if p))


# --- before `cdk destroy` --------------------------------------------------------------------


def check_stack_exists(cfn: BaseClient, *, stack_id: str, account: str, region: str) -> Result:
    """The stack `cdk destroy` would delete is there (a wrong stage or region finds nothing)."""
    name = "stack"
    stack = described_stack(cfn, stack_id)
    if stack is None:
        return Result(
            name,
            Status.FAIL,
            f"no stack {stack_id} in {account}/{region}: nothing to destroy",
            "check -c stage=... and the region (AWS_REGION or the profile)",
        )
    return Result(name, Status.PASS, f"{stack_id} is {stack['StackStatus']} in {account}/{region}")


_RETAINED = {"Retain", "RetainExceptOnCreate"}
_KINDS = {"AWS::S3::Bucket": "bucket", "AWS::DynamoDB::Table": "table"}


def check_retained_resources(cfn: BaseClient, *, stack_id: str, retain_data: bool) -> Result:
    """What `cdk destroy` leaves behind: the resources whose DeletionPolicy in the deployed
    template is Retain. The setting `retainData` decided it for the buckets and tables when the
    stack was deployed (README, "Tearing down")."""
    name = "kept after destroy"
    body = cfn.get_template(StackName=stack_id)["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    retained = {
        logical_id: str(resource.get("Type"))
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("DeletionPolicy") in _RETAINED
    }
    setting = f"retainData={'true' if retain_data else 'false'} in the settings now"
    if not retained:
        return Result(
            name,
            Status.PASS,
            f"nothing: the buckets are emptied and deleted with the stack ({setting}; the "
            "deployed template decides)",
        )
    physical = {
        summary["LogicalResourceId"]: summary.get("PhysicalResourceId")
        or summary["LogicalResourceId"]
        for summary in _pages(
            cfn.list_stack_resources, "StackResourceSummaries", "NextToken", StackName=stack_id
        )
    }
    kept = [
        f"{_KINDS.get(kind, kind)} {physical.get(logical_id, logical_id)}"
        for logical_id, kind in sorted(retained.items())
    ]
    return Result(
        name,
        Status.PASS,
        f"{', '.join(kept)} ({setting}; delete them by hand when you mean it, README "
        "'Tearing down')",
    )
