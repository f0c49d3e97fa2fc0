"""What the synthesized template says about usage: the resources that bill by the hour, and the
settings of those that bill by use (buffers, batch sizes, memory, schedules)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Template = Mapping[str, Any]
DEFAULT_LAMBDA_MEMORY_MIB = 128  # CloudFormation's default when MemorySize is absent
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


@dataclass(frozen=True)
class FirehoseFacts:
    logical_id: str
    destination: str  # "s3" or "opensearch"
    buffer_seconds: int
    buffer_mib: int
    processor_memory_mib: int | None
    processor_buffer_mib: float
    processor_buffer_seconds: int
    vpc_zones: int


@dataclass(frozen=True)
class InstanceFacts:
    instance_type: str
    volume_gib: int
    detailed_monitoring: bool


@dataclass(frozen=True)
class StackFacts:
    kinesis_mode: str
    kinesis_shards: int | None
    kinesis_consumers: int
    basic_ingest: bool
    rule_actions: int
    firehoses: tuple[FirehoseFacts, ...]
    alerter_memory_mib: int
    alerter_batch_size: int
    alerter_batching_window_seconds: int
    alerter_threshold_cache_seconds: int
    # Every function's logging: Lambda's system log level (at WARN no START/END/REPORT lines)
    # and the Powertools Logger's level (at DEBUG the per-invocation summary lines).
    lambda_system_log_level: str
    lambda_log_level: str
    compactor_memory_mib: int
    compaction_threshold: int
    compactor_schedule_minutes: float
    search_instance_type: str
    search_instance_count: int
    search_volume_gib: int
    search_volume_type: str
    search_retention_days: int
    interface_endpoints: int
    interface_endpoint_zone_hours_per_hour: int
    instances: tuple[InstanceFacts, ...]
    alarms: int
    kms_keys: int
    secrets: int

    def firehose(self, destination: str) -> FirehoseFacts | None:
        return next((f for f in self.firehoses if f.destination == destination), None)


def resources(template: Template, resource_type: str) -> dict[str, Mapping[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: Template, resource_type: str) -> Mapping[str, Any]:
    found = resources(template, resource_type)
    if len(found) != 1:
        raise ValueError(f"expected one {resource_type} in the template, found {len(found)}")
    return next(iter(found.values()))


def referenced_id(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` names."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def text(value: Any) -> str:
    """A policy resource as text: intrinsic functions rendered as `{...}`."""
    return value if isinstance(value, str) else json.dumps(value)


def lambda_memory(template: Template, logical_id: str | None) -> int:
    props = resources(template, "AWS::Lambda::Function").get(logical_id or "")
    if props is None:
        raise ValueError(f"no Lambda function {logical_id!r} in the template")
    return int(props.get("MemorySize", DEFAULT_LAMBDA_MEMORY_MIB))


def allows_basic_ingest(template: Template) -> bool:
    """Whether the device policy lets a device publish to a Basic Ingest topic
    (`$aws/rules/<rule>/...`), which IoT Core does not bill as messaging."""
    for policy in resources(template, "AWS::IoT::Policy").values():
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if statement.get("Effect") != "Allow" or "iot:Publish" not in actions:
                continue
            targets = statement.get("Resource")
            targets = targets if isinstance(targets, list) else [targets]
            if any("topic/$aws/rules/" in text(t) for t in targets):
                return True
    return False


def _processor(config: Mapping[str, Any], template: Template) -> tuple[int | None, float, int]:
    processors = config.get("ProcessingConfiguration", {}).get("Processors", [])
    for processor in processors:
        if processor.get("Type") != "Lambda":
            continue
        params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
        memory = lambda_memory(template, referenced_id(params["LambdaArn"]))
        # The stack sets both (cdk_app/delivery.py); absent, the model takes 1 MB and 60 s.
        return (
            memory,
            float(params.get("BufferSizeInMBs", 1)),
            int(params.get("BufferIntervalInSeconds", 60)),
        )
    return None, 0.0, 0


def firehoses(template: Template) -> tuple[FirehoseFacts, ...]:
    found = []
    for logical_id, props in resources(template, "AWS::KinesisFirehose::DeliveryStream").items():
        if "ExtendedS3DestinationConfiguration" in props:
            destination, config = "s3", props["ExtendedS3DestinationConfiguration"]
        elif "AmazonopensearchserviceDestinationConfiguration" in props:
            destination = "opensearch"
            config = props["AmazonopensearchserviceDestinationConfiguration"]
        else:
            raise ValueError(f"delivery stream {logical_id}: a destination the model does not know")
        hints = config.get("BufferingHints", {})
        memory, processor_mib, processor_seconds = _processor(config, template)
        found.append(
            FirehoseFacts(
                logical_id=logical_id,
                destination=destination,
                buffer_seconds=int(hints.get("IntervalInSeconds", 300)),
                buffer_mib=int(hints.get("SizeInMBs", 5)),
                processor_memory_mib=memory,
                processor_buffer_mib=processor_mib,
                processor_buffer_seconds=processor_seconds,
                vpc_zones=len(config.get("VpcConfiguration", {}).get("SubnetIds", [])),
            )
        )
    return tuple(sorted(found, key=lambda f: f.destination))


def telemetry_rule(template: Template) -> Mapping[str, Any]:
    """The topic rule every reading triggers: the one that puts to the Kinesis stream."""
    rules = [
        props["TopicRulePayload"]
        for props in resources(template, "AWS::IoT::TopicRule").values()
        if any("Kinesis" in action for action in props["TopicRulePayload"].get("Actions", []))
    ]
    if len(rules) != 1:
        raise ValueError(f"expected one topic rule with a Kinesis action, found {len(rules)}")
    return rules[0]


def schedule_minutes(expression: str) -> float:
    match = _RATE.match(expression)
    if not match:
        raise ValueError(f"schedule {expression!r}: only rate(N minutes|hours) is modelled")
    value = int(match.group(1))
    return float(value * 60 if match.group(2).startswith("hour") else value)


def _function_of_target(template: Template, function_id: str) -> Mapping[str, Any]:
    return resources(template, "AWS::Lambda::Function")[function_id]


def log_levels(template: Template) -> dict[str, str]:
    """The system and Powertools log levels the pipeline's functions share (the functions with a
    POWERTOOLS_SERVICE_NAME; Lambda's defaults where the template says nothing)."""
    levels = {
        (
            str(props.get("LoggingConfig", {}).get("SystemLogLevel", "INFO")),
            str(props["Environment"]["Variables"].get("POWERTOOLS_LOG_LEVEL", "INFO")),
        )
        for props in resources(template, "AWS::Lambda::Function").values()
        if "POWERTOOLS_SERVICE_NAME" in props.get("Environment", {}).get("Variables", {})
    }
    if len(levels) != 1:
        raise ValueError(f"expected one log level setting for every function, found {levels}")
    system, powertools = levels.pop()
    return {"lambda_system_log_level": system, "lambda_log_level": powertools}


def read_facts(template: Template) -> StackFacts:
    """Every usage figure the model takes from the template."""
    stream = only(template, "AWS::Kinesis::Stream")
    mode = stream.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    mapping = only(template, "AWS::Lambda::EventSourceMapping")
    alerter_id = referenced_id(mapping["FunctionName"])
    notifications = only(template, "Custom::S3BucketNotifications")
    compactor_id = referenced_id(
        notifications["NotificationConfiguration"]["LambdaFunctionConfigurations"][0][
            "LambdaFunctionArn"
        ]
    )
    compactor = _function_of_target(template, compactor_id or "")
    schedule = next(
        rule
        for rule in resources(template, "AWS::Events::Rule").values()
        if any(referenced_id(t["Arn"]) == compactor_id for t in rule.get("Targets", []))
    )
    rule = telemetry_rule(template)
    domain = only(template, "AWS::OpenSearchService::Domain")
    cluster, ebs = domain["ClusterConfig"], domain["EBSOptions"]
    setup = only(template, "Custom::OpenSearchSetup")
    endpoints = [
        props
        for props in resources(template, "AWS::EC2::VPCEndpoint").values()
        if props.get("VpcEndpointType") == "Interface"
    ]
    instances = tuple(
        InstanceFacts(
            instance_type=str(props["InstanceType"]),
            volume_gib=sum(
                int(device.get("Ebs", {}).get("VolumeSize", 0))
                for device in props.get("BlockDeviceMappings", [])
            ),
            detailed_monitoring=bool(props.get("Monitoring", False)),
        )
        for props in resources(template, "AWS::EC2::Instance").values()
    )
    consumers = len(
        [
            f
            for f in resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
            if "KinesisStreamSourceConfiguration" in f
        ]
    ) + len(resources(template, "AWS::Lambda::EventSourceMapping"))
    return StackFacts(
        kinesis_mode=mode,
        kinesis_shards=int(stream["ShardCount"]) if "ShardCount" in stream else None,
        kinesis_consumers=consumers,
        basic_ingest=allows_basic_ingest(template),
        rule_actions=len(rule.get("Actions", [])),
        firehoses=firehoses(template),
        alerter_memory_mib=lambda_memory(template, alerter_id),
        alerter_batch_size=int(mapping.get("BatchSize", 100)),
        alerter_batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
        alerter_threshold_cache_seconds=int(
            _function_of_target(template, alerter_id or "")["Environment"]["Variables"][
                "THRESHOLD_CACHE_SECONDS"
            ]
        ),
        **log_levels(template),
        compactor_memory_mib=int(compactor.get("MemorySize", DEFAULT_LAMBDA_MEMORY_MIB)),
        compaction_threshold=int(compactor["Environment"]["Variables"]["COMPACTION_THRESHOLD"]),
        compactor_schedule_minutes=schedule_minutes(schedule["ScheduleExpression"]),
        search_instance_type=str(cluster["InstanceType"]),
        search_instance_count=int(cluster.get("InstanceCount", 1)),
        search_volume_gib=int(ebs.get("VolumeSize", 10)),
        search_volume_type=str(ebs.get("VolumeType", "gp2")),
        search_retention_days=int(setup["RetentionDays"]),
        interface_endpoints=len(endpoints),
        interface_endpoint_zone_hours_per_hour=sum(len(e.get("SubnetIds", [])) for e in endpoints),
        instances=instances,
        alarms=len(resources(template, "AWS::CloudWatch::Alarm")),
        kms_keys=len(resources(template, "AWS::KMS::Key")),
        secrets=len(resources(template, "AWS::SecretsManager::Secret")),
    )
