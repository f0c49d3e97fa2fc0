"""Secure defaults in one place: buckets, log groups, Lambda functions and their roles.

Every bucket blocks public access, enforces TLS and is encrypted; every function has its own
role that may write only to its own log group (no AWS managed policies).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_cdk import (
    Acknowledgment,
    Aws,
    CfnMapping,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk_app.lambda_assets import SharedPackage, lambda_code

if TYPE_CHECKING:  # config imports this module (through cdk_app.lambda_code)
    from cdk_app.config import PipelineSettings

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_13
POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = "AWSLambdaPowertoolsPythonV3-python313-x86_64"

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only some retention periods; name them in the error."""
    try:
        return _RETENTION[days]
    except KeyError:
        allowed = ", ".join(str(d) for d in _RETENTION)
        raise ValueError(
            f"context setting 'logRetentionDays' must be one of {allowed}, got {days}"
        ) from None


def secure_bucket(
    scope: Construct,
    construct_id: str,
    *,
    access_logs: s3.IBucket | None,
    retain: bool,
    lifecycle_rules: list[s3.LifecycleRule] | None = None,
    versioned: bool = False,
) -> s3.Bucket:
    """An S3 bucket with public access blocked, TLS enforced, SSE-S3 encryption, access logs.

    `retain` (setting `retainData`): kept by `cdk destroy`, or emptied and deleted with it."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id.lower()}/" if access_logs else None,
        lifecycle_rules=lifecycle_rules,
        versioned=versioned,
        **data_removal(retain),
    )


def data_removal(retain: bool) -> dict[str, Any]:
    """A bucket's removal properties: RETAIN, or DESTROY after CDK's custom resource has
    emptied it (CloudFormation cannot delete a bucket that still holds objects)."""
    if retain:
        return {"removal_policy": RemovalPolicy.RETAIN}
    return {"removal_policy": RemovalPolicy.DESTROY, "auto_delete_objects": True}


def secure_table(
    scope: Construct,
    construct_id: str,
    *,
    partition: str,
    sort: str,
    retain: bool,
    time_to_live_attribute: str | None = None,
) -> dynamodb.Table:
    """A DynamoDB table with string keys: on demand, point-in-time recovery, encrypted; kept by
    `cdk destroy` when `retain` (setting `retainData`)."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=time_to_live_attribute,
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
    )


def encrypted_topic(
    scope: Construct,
    construct_id: str,
    *,
    key_id: str,
    description: str,
    display_name: str,
    email: str,
) -> tuple[sns.Topic, kms.Key]:
    """An SNS topic encrypted with its own rotating KMS key, TLS only, with an e-mail
    subscription when `email` is set."""
    # The key encrypts messages in flight only: nothing kept needs it after `cdk destroy`, so it
    # is scheduled for deletion with the stack (a retained key bills $1 a month forever).
    key = kms.Key(
        scope,
        key_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.DESTROY,
        pending_window=Duration.days(7),
    )
    topic = sns.Topic(
        scope, construct_id, display_name=display_name, master_key=key, enforce_ssl=True
    )
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic, key


def log_group(scope: Construct, construct_id: str, retention_days: int) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        retention=retention(retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    folder: str,
    description: str,
    environment: dict[str, str],
    timeout: Duration,
    settings: PipelineSettings,
    memory_mib: int = 256,
    vpc_props: dict[str, object] | None = None,
    shared: Sequence[SharedPackage] = (),
) -> lambda_.Function:
    """A Python Lambda from `lambdas/<folder>/` (handler `<folder>.handler.lambda_handler`).

    From `settings`: the log retention, the Powertools layer version and the log levels
    (`lambda_log_levels()`: the Powertools Logger's level, `POWERTOOLS_LOG_LEVEL`, and Lambda's
    system log level). The log format is JSON, which Lambda needs to filter its system logs: at
    `WARN` it writes no START, END and REPORT lines per invocation. The application log level is
    left at Lambda's default (INFO): Lambda gives lines without a level (Powertools' metrics, EMF)
    the level INFO, and a stricter filter would drop the metrics.

    The code is the asset folder, plus the `shared` packages' modules copied in at synth (no
    Docker, see cdk_app/lambda_assets.py); Powertools comes from its public layer. The role may
    write only to the function's own log group.
    """
    asset = LAMBDAS / folder
    if not (asset / folder / "handler.py").is_file():
        raise FileNotFoundError(f"Lambda code missing: {asset / folder / 'handler.py'}")
    log_levels = settings.lambda_log_levels()
    logs_group = log_group(scope, f"{construct_id}Logs", settings.log_retention_days)
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Runs the {folder} function",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            # The group's Arn attribute already ends in ":*", which covers its log streams.
            resources=[logs_group.log_group_arn],
        )
    )
    stack = Stack.of(scope)
    layer = lambda_.LayerVersion.from_layer_version_arn(
        scope,
        f"{construct_id}Powertools",
        powertools_layer_arn(
            stack.partition,
            stack.region,
            settings.powertools_layer_version,
            powertools_publisher(stack),
        ),
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=PYTHON_RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler=f"{folder}.handler.lambda_handler",
        code=lambda_code(asset, shared),
        description=description,
        environment={
            "POWERTOOLS_SERVICE_NAME": folder,
            "POWERTOOLS_LOG_LEVEL": log_levels[0],
            **environment,
        },
        timeout=timeout,
        memory_size=memory_mib,
        role=role,
        log_group=logs_group,
        logging_format=lambda_.LoggingFormat.JSON,
        system_log_level_v2=lambda_.SystemLogLevel[log_levels[1]],
        layers=[layer],
        **(vpc_props or {}),
    )
    acknowledge(
        function,
        "AwsSolutions-L1",
        f"{PYTHON_RUNTIME.name} is the newest runtime with a published Powertools public layer "
        "(AWSLambdaPowertoolsPythonV3-python313); the code is tested on Python 3.11 to 3.13.",
    )
    return function


# The account that publishes the public Powertools layer, per partition. Powertools documents
# its layer ARNs for the commercial partition only (docs "Lambda Layer"); a partition that is not
# listed makes CloudFormation refuse the template before it creates anything ("Unable to get
# mapping for PowertoolsPublisher::<partition>::account"), and `make preflight` says so first.
POWERTOOLS_PUBLISHERS = {"aws": POWERTOOLS_ACCOUNT}


def powertools_publisher(stack: Stack) -> str:
    """The publisher account for the stack's partition, looked up by CloudFormation at deploy
    time (the template stays environment-agnostic): `Fn::FindInMap` on a stack mapping."""
    mapping = stack.node.try_find_child("PowertoolsPublisher")
    if mapping is None:
        mapping = CfnMapping(
            stack,
            "PowertoolsPublisher",
            mapping={
                partition: {"account": account}
                for partition, account in POWERTOOLS_PUBLISHERS.items()
            },
        )
    return str(mapping.find_in_map(Aws.PARTITION, "account"))  # type: ignore[attr-defined]


def search_log_policy_name(stack_name: str) -> str:
    """The CloudWatch Logs resource policy the stack adds for the OpenSearch domain's logs
    (cdk_app/search.py); `make preflight` counts it against the quota of 10 per region."""
    return f"{stack_name}-opensearch-logs"


def powertools_layer_arn(
    partition: str, region: str, version: int, publisher: str = POWERTOOLS_ACCOUNT
) -> str:
    """The public Powertools for AWS Lambda (Python) V3 layer the functions use (published by
    `publisher`, POWERTOOLS_ACCOUNT in the commercial partition; `make preflight` checks that it
    exists in the region)."""
    return f"arn:{partition}:lambda:{region}:{publisher}:layer:{POWERTOOLS_LAYER}:{version}"


def acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge a cdk-nag finding on one construct, with the specific reason it is accepted."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def acknowledge_provider_framework(provider: cr.Provider, invokes: str, function_arn: str) -> None:
    """The cdk-nag findings of CDK's custom resource framework function in `provider`, which
    aws-cdk-lib builds: its role may invoke only `invokes` (the handler, `function_arn`, and its
    versions), its managed policy writes only its logs, and its runtime is the library's."""
    framework = provider.node.find_child("framework-onEvent")
    acknowledge_wildcards(
        framework.role,  # type: ignore[attr-defined]
        f"CDK's custom resource framework may invoke only {invokes} and its versions.",
        reviewed=[f"Resource::{function_arn}:*"],
    )
    acknowledge(
        framework,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "CDK's custom resource framework function: it writes only its own logs.",
    )
    acknowledge(
        framework,
        "AwsSolutions-L1",
        "CDK's custom resource framework function; its runtime is chosen by aws-cdk-lib.",
    )


def policy_of(role: iam.IRole) -> Construct:
    """The role's default policy: what a service checks when the resource using it is created."""
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is None:
        raise ValueError(f"{role.node.path} has no policy yet")
    return policy


def log_streams_arn(group: logs.ILogGroup) -> str:
    """`arn:...:log-group:<name>:log-stream:*`, built from the group's name.

    Not from `log_group_arn`: CloudFormation's `Fn::GetAtt <LogGroup>.Arn` already ends in
    ":*" (AWS::Logs::LogGroup return values; the CloudWatch Logs API's `arn` field "includes a
    trailing :*"), so appending ":log-stream:*" to it gives `log-group:<name>:*:log-stream:*`,
    which matches no log stream."""
    # Pseudo parameters, not the stack's environment: the same template whatever the region.
    return (
        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
        f"{group.log_group_name}:log-stream:*"
    )


# How cdk-nag renders `log_streams_arn(group)`: the group's logical id in the braces.
LOG_STREAMS = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<{}>:log-stream:*"


class UnreviewedWildcardError(ValueError):
    """A role's policy has an IAM wildcard that is not on its reviewed list, or the list names
    one the policy no longer has."""


def acknowledge_wildcards(role: iam.IRole, reason: str, reviewed: Sequence[str]) -> None:
    """Acknowledge exactly the `reviewed` wildcards of the role's policy, with `reason`.

    `reviewed` is the frozen list of cdk-nag IAM5 findings someone checked, as cdk-nag names
    them without the rule: `Action::s3:Abort*`, `Resource::<LogicalId.Arn>/raw/*`. Only those
    are acknowledged, so a wildcard granted later still fails the synth (cdk-nag). A wildcard in
    the policy now that is not on the list, or a listed one the policy lacks, raises
    UnreviewedWildcardError here, naming it, so the list always says what the role holds.
    """
    found = {
        _environment_agnostic(finding, Stack.of(role)): finding
        for finding in wildcard_findings(role)
    }
    unreviewed = sorted(set(found) - set(reviewed))
    stale = sorted(set(reviewed) - set(found))
    if unreviewed or stale:
        raise UnreviewedWildcardError(
            f"{role.node.path}: IAM wildcards not on the reviewed list: {unreviewed or 'none'}; "
            f"listed but not in the policy: {stale or 'none'}. Review the grant and update the "
            "list passed to acknowledge_wildcards."
        )
    for finding in sorted(found.values()):
        acknowledge(role, f"AwsSolutions-IAM5[{finding}]", reason)


def _environment_agnostic(finding: str, stack: Stack) -> str:
    """A finding with the stack's concrete partition and region (set when the app is given an
    environment) written as the pseudo parameters cdk-nag shows without one."""
    for value, placeholder in (
        (stack.partition, "<AWS::Partition>"),
        (stack.region, "<AWS::Region>"),
        (stack.account, "<AWS::AccountId>"),
    ):
        if not Token.is_unresolved(value):
            finding = finding.replace(f":{value}:", f":{placeholder}:")
    return finding


def wildcard_findings(role: iam.IRole) -> set[str]:
    """The role's default policy's wildcards as cdk-nag names them (`Action::...`,
    `Resource::...`)."""
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is None:
        return set()
    stack = Stack.of(role)
    document = stack.resolve(policy.document.to_json())  # type: ignore[attr-defined]
    findings: set[str] = set()
    for statement in document["Statement"]:
        for action in _listify(statement.get("Action")):
            if "*" in action:
                findings.add(f"Action::{action}")
        for resource in _listify(statement.get("Resource")):
            rendered = _render(resource)
            if "*" in rendered:
                findings.add(f"Resource::{rendered}")
    return findings


def _listify(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _render(value: object) -> str:
    """A resolved CloudFormation value as cdk-nag prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return f"<{logical_id}.{attribute}>"
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(_render(part) for part in parts)
    return str(value)
