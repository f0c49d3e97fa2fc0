"""IoT Core's resources and their start-up.

`IotCore` owns `AWS::IoT::Thing` and `AWS::IoT::Policy`: things are registered in moto, and the
policies become the ACL of the broker it starts (mosquitto with mutual TLS, certificates from the
local CA), together with the identities of the local services that use the broker: the rule
engine reads the devices' topics, and the IoT data plane (HTTP Publish) writes the topics of the
functions' `ALERTS_TOPIC_TEMPLATE` (`{...}` placeholders as `+`), `sensors/+/alerts` by default.
At start it also issues a certificate for every thing and writes its publisher config,
`<state_dir>/devices/<thing>/config.toml` (device_configs.py).
Its endpoints: `AWS_ENDPOINT_URL_IOT_DATA_PLANE` (what botocore and the AWS CLI read for
`iot-data`: it is named after the service id "IoT Data Plane") and, with the same value,
`AWS_ENDPOINT_URL_IOT_DATA`; `MQTT_HOST`, `MQTT_PORT`, `MQTT_CA` for devices.

`IotRules` owns `AWS::IoT::TopicRule`: the rule engine, subscribed to the broker as
`localcloud-iot-rules` to each rule's topic filter and its Basic Ingest topics
(`$aws/rules/<rule name>/...`). It runs in a process of its own (engine_process.py), which can
be stopped, killed and started again (the fault tests do).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from localcloud.cloudformation.deployer import Deployer, Deployment, Outcome, ResourceHandler
from localcloud.cloudformation.template import Resource
from localcloud.core.aws import arn
from localcloud.core.registry import CloudContext, CloudService
from localcloud.iot.broker import MosquittoBroker, reader_acl, writer_acl
from localcloud.iot.ca import DeviceCredentials, LocalCA
from localcloud.iot.data_plane import IOT_DATA_CLIENT_ID, IotDataServer
from localcloud.iot.device_configs import DEVICES_DIR, write_device_configs
from localcloud.iot.engine_process import RuleEngineProcess
from localcloud.iot.policy import acl_from_policy
from localcloud.iot.rules import (
    ENGINE_CLIENT_ID,
    MqttConnection,
    TopicRuleConfig,
    rule_topic_filters,
)

THING: Final = "AWS::IoT::Thing"
POLICY: Final = "AWS::IoT::Policy"
TOPIC_RULE: Final = "AWS::IoT::TopicRule"
ALERTS_TOPIC_VARIABLE: Final = "ALERTS_TOPIC_TEMPLATE"  # where a function publishes via iot-data
DEFAULT_DATA_PLANE_TOPICS: Final = ("sensors/+/alerts",)
TELEMETRY_TOPIC_OUTPUT: Final = "TelemetryTopic"  # the stack output devices are configured from

# --- resource types --------------------------------------------------------------------------


def thing(deploy: Deployer, _r: Resource, props: dict[str, Any], name: str) -> Outcome:
    thing = props.get("ThingName", name)
    attributes = (props.get("AttributePayload") or {}).get("Attributes")
    extra = {"attributePayload": {"attributes": attributes}} if attributes else {}
    response = deploy.clients("iot").create_thing(thingName=thing, **extra)
    return {"ref": thing, "attributes": {"Arn": response["thingArn"]}}


def policy(deploy: Deployer, resource: Resource, props: dict[str, Any], name: str) -> Outcome:
    policy = props.get("PolicyName", name)
    document = props["PolicyDocument"]
    deploy.clients("iot").create_policy(policyName=policy, policyDocument=json.dumps(document))
    deploy.record(resource, document, key=policy)
    return {"ref": policy, "attributes": {"Arn": arn("iot", f"policy/{policy}")}}


def topic_rule(deploy: Deployer, resource: Resource, props: dict[str, Any], _name: str) -> Outcome:
    rule = props.get("RuleName", resource.logical_id)  # rule names allow [a-zA-Z0-9_]
    deploy.clients("iot").create_topic_rule(
        ruleName=rule, topicRulePayload=topic_rule_api_payload(props["TopicRulePayload"])
    )
    deploy.record(resource, props, key=rule)
    return {"ref": rule, "attributes": {"Arn": arn("iot", f"rule/{rule}")}}


def topic_rule_api_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's TopicRulePayload, in the IoT API's lower-camel-case shape."""

    def lower(value: Any) -> Any:
        if isinstance(value, dict):
            return {k[0].lower() + k[1:]: lower(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lower(v) for v in value]
        return value

    api = lower(payload)
    api["ruleDisabled"] = bool(api.get("ruleDisabled", False))
    return dict(api)


def data_plane_topics(deployment: Deployment) -> tuple[str, ...]:
    """Topic filters the data plane may write: the functions' alert topics."""
    filters: list[str] = []
    for props in deployment.functions.values():
        variables = (props.get("Environment") or {}).get("Variables") or {}
        template = variables.get(ALERTS_TOPIC_VARIABLE)
        if isinstance(template, str) and template:
            topic_filter = re.sub(r"\{[^}]*\}", "+", template)
            if topic_filter not in filters:
                filters.append(topic_filter)
    return tuple(filters) or DEFAULT_DATA_PLANE_TOPICS


def deployed_rules(deployment: Deployment) -> list[TopicRuleConfig]:
    """The template's topic rules, as the rule engine runs them."""
    return [
        TopicRuleConfig.from_cfn_properties(props, name=name)
        for name, props in deployment.runtime[TOPIC_RULE].items()
    ]


def broker_acl(deployment: Deployment) -> list[str]:
    """The template's IoT policies, and the local services' identities: the rule engine reads
    its rules' topics, plain and Basic Ingest (`$aws/rules/<rule>/...`)."""
    acl: list[str] = []
    things = [deployment.refs[logical_id] for logical_id in deployment.created[THING]]
    for document in deployment.runtime[POLICY].values():
        acl += acl_from_policy(document, things)
    rules = [rule for rule in deployed_rules(deployment) if not rule.disabled]
    acl += reader_acl(ENGINE_CLIENT_ID, *rule_topic_filters(rules))
    acl += writer_acl(IOT_DATA_CLIENT_ID, data_plane_topics(deployment))
    return acl


# --- the services ----------------------------------------------------------------------------


class IotCore(CloudService):
    """The local CA, the broker and the data plane in front of it."""

    stopping = "the MQTT broker (mosquitto) and the IoT data plane"

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {THING: thing, POLICY: policy}

    def __init__(self) -> None:
        self.ca: LocalCA | None = None
        self.broker: MosquittoBroker | None = None
        self.data_plane: IotDataServer | None = None
        self._deployment: Deployment | None = None

    def start(self, context: CloudContext) -> None:
        self._deployment = context.deployed
        self.ca = LocalCA(context.state_dir / "ca")
        self.broker = MosquittoBroker(
            context.state_dir / "broker",
            self.ca,
            context.port("mqtt"),
            acl=broker_acl(self._deployment),
        ).start()
        context.log(f"mosquitto mTLS on {self.broker.host}:{self.broker.port}")
        self.data_plane = IotDataServer(
            self.connection(IOT_DATA_CLIENT_ID), context.port("iot-data")
        ).start()
        context.log(f"IoT data plane (Publish) {self.data_plane.endpoint}")
        topic = context.outputs.get(TELEMETRY_TOPIC_OUTPUT)
        if isinstance(topic, str):
            configs = write_device_configs(
                context.state_dir,
                self.ca,
                self.thing_names(),
                self.broker.host,
                self.broker.port,
                topic,
            )
            context.log(
                f"device configs for {len(configs)} things in {context.state_dir / DEVICES_DIR}"
            )
        context.publish(
            {
                **self.data_plane.env(),
                "MQTT_HOST": self.broker.host,
                "MQTT_PORT": str(self.broker.port),
                "MQTT_CA": str(self.ca.certificate_path),
            }
        )

    def credentials(self, thing_name: str) -> DeviceCredentials:
        """The local equivalent of iot:CreateKeysAndCertificate for a thing."""
        if self.ca is None:
            raise RuntimeError("IoT Core is not started")
        return self.ca.issue_device_certificate(thing_name)

    def connection(self, client_id: str) -> MqttConnection:
        """An MQTT connection to the broker as `client_id`, with a certificate issued for it."""
        if self.broker is None:
            raise RuntimeError("IoT Core is not started")
        return MqttConnection.issued(
            self.broker.host, self.broker.port, self.credentials(client_id), client_id
        )

    def thing_names(self) -> list[str]:
        if self._deployment is None:
            raise RuntimeError("IoT Core is not started")
        return [self._deployment.refs[lid] for lid in self._deployment.created[THING]]

    def stop(self) -> None:
        for server in (self.data_plane, self.broker):
            if server is not None:
                server.stop()


class IotRules(CloudService):
    """The topic rule engine."""

    stopping = "the IoT topic rule engine"

    resource_types: ClassVar[Mapping[str, ResourceHandler]] = {TOPIC_RULE: topic_rule}

    def __init__(self) -> None:
        self.engine: RuleEngineProcess | None = None
        self._context: CloudContext | None = None

    def start(self, context: CloudContext) -> None:
        self._context = context
        self._start_engine()

    def _start_engine(self) -> None:
        assert self._context is not None
        deployment = self._context.deployed
        # An unsupported rule fails the start here, with its reason.
        if any(not rule.disabled for rule in deployed_rules(deployment)):
            mqtt = self._context.service(IotCore).connection(ENGINE_CLIENT_ID)
            self.engine = RuleEngineProcess(
                deployment.runtime[TOPIC_RULE], mqtt, self._context.state_dir / "iot-rules"
            ).start()

    def crash_rule_engine(self) -> None:
        """Kill the topic rule engine's process (SIGKILL): the messages it has not acknowledged,
        and those published while it is down, wait in its persistent session at the broker."""
        if self.engine is not None:
            self.engine.kill()
            self.engine = None

    def stop_rule_engine(self) -> None:
        """Stop the topic rule engine (SIGTERM); what it has not acknowledged waits at the
        broker as after a crash."""
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def start_rule_engine(self) -> RuleEngineProcess:
        """Start a new rule engine; it rejoins its session and receives what it missed."""
        if self.engine is not None:
            raise RuntimeError("the rule engine is running")
        self._start_engine()
        assert self.engine
        return self.engine

    def signal_stop(self) -> None:
        """The engine stops first: nothing new enters the streams while the rest stops."""
        self.stop_rule_engine()

    def stop(self) -> None:
        self.stop_rule_engine()
