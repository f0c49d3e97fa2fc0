"""Lambda's resources and their start-up: the functions, and what invokes them.

`LambdaFunctions` owns `AWS::Lambda::Function` and the custom resources (`Custom::*`): it runs
every Python function of the template in its own worker and then sends each custom resource
whose provider is a local function its Create request. `LambdaTriggers` owns what invokes the
functions: `AWS::Lambda::EventSourceMapping` (Kinesis sources, polled with checkpoints),
`AWS::Events::Rule` (rate schedules) and CDK's `Custom::S3BucketNotifications` (bucket
notifications, carried through SQS).

Differences from AWS:
- Only Python functions with their code in a CDK asset run; functions of other runtimes and
  inline code (CDK's own helpers, whose job is emulated directly) are listed as not emulated.
- An event source mapping's `Ref` is a UUID derived from the stack and logical id (the same on
  every local deployment, so the local poller's checkpoints survive a restart); AWS makes a new
  one. Mappings whose source is not a Kinesis stream are listed as not emulated.
- Lambda permissions (`AWS::Lambda::Permission`) are listed as not emulated: no resource policy
  is evaluated locally.
- A custom resource receives only its Create request, after every function has started; one
  whose provider is not a local function is listed as not emulated.
- Each function runs with a session of its execution role (STS AssumeRole on moto, for an
  hour, which moto does not expire; a worker restarted later keeps it), so what it calls is
  authorized against the role's policies (localcloud/moto/authorization.py). The role's trust
  policy is not checked. The pollers and bridges that invoke functions act as the account.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

import boto3

from localcloud.cloudformation.deployer import Deployer, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource, TemplateError
from localcloud.core.aws import arn
from localcloud.core.iam import role_credentials
from localcloud.core.registry import CloudContext, CloudService
from localcloud.kinesis.consumer import CheckpointLocation
from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda
from localcloud.lambda_.kinesis import (
    KinesisEventSource,
    KinesisMappingConfig,
    is_kinesis_stream_arn,
)
from localcloud.lambda_.s3 import S3NotificationBridge
from localcloud.lambda_.sources import ScheduleSource, parse_rate_expression
from localcloud.moto.resources import Moto

FUNCTION: Final = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING: Final = "AWS::Lambda::EventSourceMapping"
SCHEDULE: Final = "AWS::Events::Rule"
BUCKET_NOTIFICATIONS: Final = "Custom::S3BucketNotifications"
PROVIDER_TARGET: Final = "USER_ON_EVENT_FUNCTION_ARN"  # CDK's custom resource framework

# --- resource types --------------------------------------------------------------------------


def function(deploy: Deployer, resource: Resource, props: dict[str, Any], name: str) -> Outcome:
    function = props.get("FunctionName", name)
    outcome: Outcome = {
        "ref": function,
        "attributes": {"Arn": arn("lambda", f"function:{function}")},
    }
    deploy.deployment.functions[resource.logical_id] = {**props, "FunctionName": function}
    if not str(props.get("Runtime", "")).startswith("python"):
        outcome["skip"] = f"runtime {props.get('Runtime')}: only Python functions run locally"
    elif "ZipFile" in props.get("Code", {}):
        outcome["skip"] = "inline code: CDK's own helper, its job is emulated directly"
    else:
        deploy.record(resource, props)
    return outcome


def custom_resource(
    deploy: Deployer, resource: Resource, props: dict[str, Any], name: str
) -> Outcome:
    """Custom resources whose provider is a local Python function run after deployment."""
    deploy.deployment.custom[resource.logical_id] = {"type": resource.type, "props": props}
    return {"ref": name}


def event_source_mapping(
    deploy: Deployer, resource: Resource, props: dict[str, Any], _name: str
) -> Outcome:
    """Recorded for the local runtime (which polls Kinesis sources); Ref is its UUID."""
    mapping = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{deploy.template.name}/{resource.logical_id}"))
    deploy.record(resource, {**props, "Id": mapping})
    return {
        "ref": mapping,
        "attributes": {
            "Id": mapping,
            "EventSourceMappingArn": arn("lambda", f"event-source-mapping:{mapping}"),
        },
    }


def schedule(deploy: Deployer, resource: Resource, props: dict[str, Any], name: str) -> Outcome:
    deploy.record(resource, props)
    rule = props.get("Name", name)
    return {"ref": rule, "attributes": {"Arn": arn("events", f"rule/{rule}")}}


def bucket_notifications(
    deploy: Deployer, resource: Resource, props: dict[str, Any], _name: str
) -> Outcome:
    deploy.record(resource, props)
    return {"ref": f"{props['BucketName']}-notifications"}


# --- the functions ---------------------------------------------------------------------------


def function_named(functions: Iterable[LocalLambda], reference: str) -> LocalLambda | None:
    """The running function a FunctionName names: a name (what `Ref` of a function resolves
    to), a full or partial ARN, with or without a qualifier."""
    name = reference.split(":function:", 1)[-1].split(":", 1)[0]
    for candidate in functions:
        if candidate.name == name:
            return candidate
    return None


class LambdaFunctions(CloudService):
    """Every Python function of the template, each in its own worker process."""

    stopping = "the Lambda function workers"

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {
        FUNCTION: function,
        "Custom::*": custom_resource,
    }

    def __init__(self) -> None:
        self.functions: dict[str, LocalLambda] = {}  # by ARN

    def start(self, context: CloudContext) -> None:
        deployment = context.deployed
        (context.state_dir / "lambda").mkdir(exist_ok=True)
        environment = context.aws_env()
        sts = boto3.client("sts")
        for logical_id, props in deployment.runtime[FUNCTION].items():
            config = LambdaFunctionConfig.from_cfn_properties(
                logical_id,
                props,
                context.template.asset_dir(context.template.resources[logical_id]),
                function_name=deployment.refs[logical_id],
            )
            try:
                credentials = role_credentials(
                    str(props.get("Role", "")), config.function_name, sts
                )
            except ValueError as err:
                raise TemplateError(f"{logical_id}: Role: {err}") from err
            self.functions[deployment.attribute(logical_id, "Arn")] = LocalLambda(
                config,
                {**environment, **credentials},
                log_path=context.state_dir / "lambda" / f"{logical_id}.log",
            ).start()
        self._run_custom_resources(context)

    def function(self, function_arn: str) -> LocalLambda:
        try:
            return self.functions[function_arn]
        except KeyError:
            raise TemplateError(f"{function_arn} is not a function running locally") from None

    def _run_custom_resources(self, context: CloudContext) -> None:
        """Custom resources whose handler is a local Python function: a Create request."""
        deployment = context.deployed
        for logical_id, custom in deployment.custom.items():
            props = dict(custom["props"])
            token = props.pop("ServiceToken")
            target = self._custom_resource_target(context, token)
            if target is None:
                deployment.not_emulated[f"{custom['type']} (no local handler)"].append(logical_id)
                continue
            event = {
                "RequestType": "Create",
                "ResourceType": custom["type"],
                "LogicalResourceId": logical_id,
                "RequestId": f"local-{logical_id}",
                "StackId": arn("cloudformation", f"stack/{context.template.name}/0"),
                "ResourceProperties": {"ServiceToken": token, **props},
            }
            result = target.invoke(event)
            context.log(f"custom resource {logical_id} ({custom['type']}): {result}")

    def _custom_resource_target(self, context: CloudContext, token: str) -> LocalLambda | None:
        if token in self.functions:
            return self.functions[token]
        deployment = context.deployed
        provider = deployment.functions.get(deployment.logical_id_of_arn(token), {})
        user_arn = provider.get("Environment", {}).get("Variables", {}).get(PROVIDER_TARGET)
        return self.functions.get(user_arn) if user_arn else None

    def stop(self) -> None:
        for running in self.functions.values():
            running.close()


# --- what invokes them -----------------------------------------------------------------------


class LambdaTriggers(CloudService):
    """Kinesis event source mappings, S3 bucket notifications and schedules."""

    stopping = "the Lambda triggers (Kinesis mappings, S3 notifications, schedules)"

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {
        EVENT_SOURCE_MAPPING: event_source_mapping,
        SCHEDULE: schedule,
        BUCKET_NOTIFICATIONS: bucket_notifications,
    }

    def __init__(self) -> None:
        self.event_sources: dict[str, KinesisEventSource] = {}  # by mapping logical id
        self._runs: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._targets: dict[str, tuple[KinesisMappingConfig, LocalLambda, str | None]] = {}
        self._checkpoints: CheckpointLocation | None = None
        self._stop = threading.Event()  # the notification bridges and schedules
        self._threads: list[threading.Thread] = []

    def start(self, context: CloudContext) -> None:
        self._checkpoints = context.service(Moto).checkpoints("lambda-kinesis")
        functions = context.service(LambdaFunctions)
        self._start_event_sources(context, functions)
        self._start_notifications_and_schedules(context, functions)

    def _start_event_sources(self, context: CloudContext, functions: LambdaFunctions) -> None:
        deployment = context.deployed
        for logical_id, props in deployment.runtime[EVENT_SOURCE_MAPPING].items():
            source = str(props.get("EventSourceArn", ""))
            if not is_kinesis_stream_arn(source):
                deployment.not_emulated[f"{EVENT_SOURCE_MAPPING} (source {source})"].append(
                    logical_id
                )
                continue
            target = function_named(
                functions.functions.values(), str(props.get("FunctionName", ""))
            )
            if target is None:
                deployment.not_emulated[
                    f"{EVENT_SOURCE_MAPPING} (function not running locally)"
                ].append(logical_id)
                continue
            config = KinesisMappingConfig.from_cfn_properties(props, mapping_id=props["Id"])
            if not config.enabled:
                continue
            role = deployment.functions.get(target.config.logical_id, {}).get("Role")
            self._targets[logical_id] = (config, target, role)
            self.start_event_source(logical_id)

    def event_source_ids(self, which: str | None = None) -> list[str]:
        """Logical ids of the Kinesis event source mappings; with `which`, those whose logical
        id, function name or function logical id is `which`."""
        return [
            logical_id
            for logical_id, (_, target, _) in self._targets.items()
            if which in (None, logical_id, target.name, target.config.logical_id)
        ]

    def start_event_source(self, which: str) -> list[KinesisEventSource]:
        """Start the Kinesis event source mappings `which` names (see `event_source_ids`); a
        new poller resumes from the checkpoints (kept in moto's state)."""
        started: list[KinesisEventSource] = []
        for logical_id in self.event_source_ids(which):
            if logical_id in self._runs:
                raise RuntimeError(f"the event source mapping {logical_id} is running")
            config, target, role = self._targets[logical_id]
            if self._checkpoints is None:
                raise RuntimeError("the event source mappings are not started")
            source = KinesisEventSource(target, config, self._checkpoints, invoke_identity_arn=role)
            stop = threading.Event()
            self._runs[logical_id] = (stop, source.start(stop))
            self.event_sources[logical_id] = source
            started.append(source)
        return started

    def stop_event_source(self, which: str) -> list[str]:
        """Stop the Kinesis event source mappings `which` names, after the batch each is
        invoking: records not yet checkpointed are read again by the next poller (at least
        once). Returns the logical ids stopped."""
        stopped: list[str] = []
        for logical_id in self.event_source_ids(which):
            run = self._runs.pop(logical_id, None)
            if run is None:
                continue
            stop, thread = run
            stop.set()
            thread.join(timeout=60)
            stopped.append(logical_id)
        return stopped

    def _start_notifications_and_schedules(
        self, context: CloudContext, functions: LambdaFunctions
    ) -> None:
        deployment = context.deployed
        for props in deployment.runtime[BUCKET_NOTIFICATIONS].values():
            config = props.get("NotificationConfiguration", {})
            for item in config.get("LambdaFunctionConfigurations", []):
                rules = item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                by_name = {rule["Name"].lower(): rule["Value"] for rule in rules}
                bridge = S3NotificationBridge(
                    props["BucketName"],
                    functions.function(item["LambdaFunctionArn"]),
                    events=item["Events"],
                    prefix=by_name.get("prefix"),
                    suffix=by_name.get("suffix"),
                )
                self._threads.append(bridge.start(self._stop))
        for logical_id, props in deployment.runtime[SCHEDULE].items():
            expression = props.get("ScheduleExpression")
            if not expression or props.get("State", "ENABLED") != "ENABLED":
                continue
            for target in props.get("Targets", []):
                source = ScheduleSource(
                    parse_rate_expression(expression),
                    functions.function(target["Arn"]),
                    rule_name=deployment.refs[logical_id],
                )
                self._threads.append(source.start(self._stop))

    def signal_stop(self) -> None:
        self._stop.set()
        for stop, _ in self._runs.values():
            stop.set()

    def stop(self) -> None:
        for logical_id in list(self._runs):
            self.stop_event_source(logical_id)
        for thread in self._threads:
            thread.join(timeout=60)
