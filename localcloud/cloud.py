"""The local cloud: every stand-in started, the template deployed onto them, the runtime wired.

`LocalCloud(state_dir, cdk_out).start()` starts moto, the local Athena endpoint and the
emulated OpenSearch, deploys the synthesized template, starts mosquitto with an ACL derived from
the template's IoT policy and the IoT data plane stand-in (HTTP Publish) in front of it, runs
every Python Lambda of the template in its own worker, starts the topic rule engine, the Firehose
delivery workers, the Kinesis event source mappings, the S3 notification bridges and the
schedules, runs the custom resources, and writes the endpoints to `<state_dir>/env`.

The IoT data plane's endpoint is in `AWS_ENDPOINT_URL_IOT_DATA_PLANE` (the variable botocore and
the AWS CLI read for `iot-data`: it is named after the service id "IoT Data Plane") and, with the
same value, `AWS_ENDPOINT_URL_IOT_DATA`. Both reach the functions, like every `AWS_*` endpoint.
The data plane publishes as `localcloud-iot-data`, which the broker lets write the topics of the
functions' `ALERTS_TOPIC_TEMPLATE` (`{...}` placeholders as `+`), `sensors/+/alerts` by default.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.athena.server import AthenaServer
from localcloud.cloudformation.deployer import Clients, Deployer, Deployment
from localcloud.cloudformation.template import Resolver, StackTemplate, TemplateError
from localcloud.core.aws import ACCOUNT_ID, CREDENTIALS, REGION
from localcloud.core.service import Service
from localcloud.firehose.config import DeliveryStreamConfig
from localcloud.firehose.delivery import DeliveryWorker
from localcloud.iot.broker import MosquittoBroker, reader_acl, writer_acl
from localcloud.iot.ca import DeviceCredentials, LocalCA
from localcloud.iot.data_plane import (
    ENDPOINT_VARIABLE,
    IOT_DATA_CLIENT_ID,
    IotDataServer,
    iot_data_connection,
)
from localcloud.iot.policy import acl_from_policy
from localcloud.iot.rules import ENGINE_CLIENT_ID, MqttConnection, TopicRuleConfig, TopicRuleEngine
from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda
from localcloud.lambda_.kinesis import (
    KinesisEventSource,
    KinesisMappingConfig,
    is_kinesis_stream_arn,
)
from localcloud.lambda_.s3 import S3NotificationBridge
from localcloud.lambda_.sources import ScheduleSource, parse_rate_expression
from localcloud.moto.server import MotoServer
from localcloud.opensearch.server import OpenSearchEmulator

STACK = "SensorPipeline"
PROVIDER_TARGET = "USER_ON_EVENT_FUNCTION_ARN"  # CDK's custom resource framework
ALERTS_TOPIC_VARIABLE = "ALERTS_TOPIC_TEMPLATE"  # where a function publishes through iot-data
DEFAULT_DATA_PLANE_TOPICS = ("sensors/+/alerts",)
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"


@dataclass(frozen=True)
class Endpoints:
    aws: str
    athena: str
    opensearch: str
    iot_data: str
    mqtt_host: str
    mqtt_port: int
    ca: Path

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.aws,
            "AWS_ENDPOINT_URL_ATHENA": self.athena,
            ENDPOINT_VARIABLE: self.iot_data,
            "AWS_ENDPOINT_URL_IOT_DATA": self.iot_data,
            **CREDENTIALS,
            "OPENSEARCH_URL": self.opensearch,
            "MQTT_HOST": self.mqtt_host,
            "MQTT_PORT": str(self.mqtt_port),
            "MQTT_CA": str(self.ca),
        }


class LocalCloud(Service):
    def __init__(
        self,
        state_dir: Path,
        cdk_out: Path,
        stack: str = STACK,
        log: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.cdk_out = cdk_out.resolve()
        self.stack = stack
        self.log = log
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.functions: dict[str, LocalLambda] = {}  # by ARN
        self.workers: dict[str, DeliveryWorker] = {}  # by delivery stream name
        self._worker_runs: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._stream_configs: dict[str, DeliveryStreamConfig] = {}
        self.event_sources: dict[str, KinesisEventSource] = {}  # by mapping logical id
        self._source_runs: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._source_targets: dict[str, tuple[KinesisMappingConfig, LocalLambda, str | None]] = {}
        self.engine: TopicRuleEngine | None = None
        self.deployment: Deployment | None = None
        self.moto: MotoServer | None = None
        self.athena: AthenaServer | None = None
        self.opensearch: OpenSearchEmulator | None = None
        self.broker: MosquittoBroker | None = None
        self.iot_data: IotDataServer | None = None
        self.ca = LocalCA(self.state_dir / "ca")

    # --- start ---------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        template = StackTemplate.load(self.cdk_out, self.stack)
        self.moto = MotoServer(log_path=self.state_dir / "moto.log").start()
        os.environ.update(self.moto.env())
        self.athena = AthenaServer(work_dir=self.state_dir / "athena").start()
        os.environ["AWS_ENDPOINT_URL_ATHENA"] = self.athena.endpoint
        self.opensearch = OpenSearchEmulator(data_dir=self.state_dir / "opensearch").start()
        self.log(
            f"moto {self.moto.endpoint}, Athena {self.athena.endpoint}, "
            f"emulated OpenSearch {self.opensearch.endpoint}"
        )

        self.deployment = Deployer(template, Clients(), self.opensearch.endpoint).deploy()
        for line in self.deployment.summary():
            self.log(line)

        self.broker = MosquittoBroker(
            self.state_dir / "broker", self.ca, acl=self._broker_acl()
        ).start()
        self.log(f"mosquitto mTLS on {self.broker.host}:{self.broker.port}")
        identity = self.credentials(IOT_DATA_CLIENT_ID)
        self.iot_data = IotDataServer(
            iot_data_connection(self.broker.host, self.broker.port, identity)
        ).start()
        os.environ.update(self.iot_data.env())
        os.environ["AWS_ENDPOINT_URL_IOT_DATA"] = self.iot_data.endpoint
        self.log(f"IoT data plane (Publish) {self.iot_data.endpoint}")
        endpoints = self.endpoints
        (self.state_dir / "lambda").mkdir(exist_ok=True)
        function_env = {k: v for k, v in endpoints.env().items() if k.startswith("AWS_")}
        for logical_id, props in self.deployment.runtime["AWS::Lambda::Function"].items():
            resource = template.resources[logical_id]
            config = LambdaFunctionConfig.from_cfn_properties(
                logical_id,
                props,
                template.asset_dir(resource),
                function_name=self.deployment.refs[logical_id],
            )
            arn = self.deployment.attribute(logical_id, "Arn")
            self.functions[arn] = LocalLambda(
                config, function_env, log_path=self.state_dir / "lambda" / f"{logical_id}.log"
            ).start()
        self._run_custom_resources()
        self._start_delivery_streams()
        self._start_rule_engine()
        self._start_event_sources()
        self._start_notifications_and_schedules()
        self.write_env()
        return self

    @property
    def endpoints(self) -> Endpoints:
        if not (self.moto and self.athena and self.opensearch and self.broker and self.iot_data):
            raise RuntimeError("the local cloud is not running")
        return Endpoints(
            aws=self.moto.endpoint,
            athena=self.athena.endpoint,
            opensearch=self.opensearch.endpoint,
            iot_data=self.iot_data.endpoint,
            mqtt_host=self.broker.host,
            mqtt_port=self.broker.port,
            ca=self.ca.certificate_path,
        )

    def _broker_acl(self) -> list[str]:
        assert self.deployment
        acl: list[str] = []
        for document in self.deployment.runtime["AWS::IoT::Policy"].values():
            acl += acl_from_policy(document)
        acl += reader_acl(ENGINE_CLIENT_ID)
        acl += writer_acl(IOT_DATA_CLIENT_ID, self._data_plane_topics())
        return acl

    def _data_plane_topics(self) -> tuple[str, ...]:
        """Topic filters the data plane may write: the functions' alert topics."""
        assert self.deployment
        filters: list[str] = []
        for props in self.deployment.functions.values():
            variables = (props.get("Environment") or {}).get("Variables") or {}
            template = variables.get(ALERTS_TOPIC_VARIABLE)
            if isinstance(template, str) and template:
                topic_filter = re.sub(r"\{[^}]*\}", "+", template)
                if topic_filter not in filters:
                    filters.append(topic_filter)
        return tuple(filters) or DEFAULT_DATA_PLANE_TOPICS

    def function(self, arn: str) -> LocalLambda:
        try:
            return self.functions[arn]
        except KeyError:
            raise TemplateError(f"{arn} is not a function running locally") from None

    def _run_custom_resources(self) -> None:
        """Custom resources whose handler is a local Python function: a Create request."""
        assert self.deployment
        for logical_id, custom in self.deployment.custom.items():
            props = dict(custom["props"])
            token = props.pop("ServiceToken")
            target = self._custom_resource_target(token)
            if target is None:
                self.deployment.not_emulated[f"{custom['type']} (no local handler)"].append(
                    logical_id
                )
                continue
            event = {
                "RequestType": "Create",
                "ResourceType": custom["type"],
                "LogicalResourceId": logical_id,
                "RequestId": f"local-{logical_id}",
                "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack}/0",
                "ResourceProperties": {"ServiceToken": token, **props},
            }
            result = target.invoke(event)
            self.log(f"custom resource {logical_id} ({custom['type']}): {result}")

    def _custom_resource_target(self, token: str) -> LocalLambda | None:
        assert self.deployment
        if token in self.functions:
            return self.functions[token]
        logical_id = self.deployment.logical_id_of_arn(token)
        provider = self.deployment.functions.get(logical_id, {})
        user_arn = provider.get("Environment", {}).get("Variables", {}).get(PROVIDER_TARGET)
        return self.functions.get(user_arn) if user_arn else None

    def _start_delivery_streams(self) -> None:
        assert self.deployment
        assert self.opensearch
        for logical_id, props in self.deployment.runtime[
            "AWS::KinesisFirehose::DeliveryStream"
        ].items():
            config = DeliveryStreamConfig.from_cfn_properties(
                logical_id, props, name=self.deployment.refs[logical_id]
            )
            self._stream_configs[config.name] = config
            self.start_delivery_worker(config.name)

    def start_delivery_worker(self, name: str) -> DeliveryWorker:
        """Start the delivery worker of stream `name` (a new one after `stop_delivery_worker`):
        it resumes from the stream's checkpoint on disk."""
        assert self.opensearch
        config = self._stream_configs[name]
        if name in self._worker_runs:
            raise RuntimeError(f"the delivery worker of {name} is running")
        lambda_processor = config.destination.processing.lambda_processor
        processor = self.function(lambda_processor.lambda_arn).invoke if lambda_processor else None
        worker = DeliveryWorker(
            config,
            processor=processor,
            opensearch_endpoint=self.opensearch.endpoint,
            checkpoint_dir=self.state_dir / "firehose",
            flush_on_stop=False,  # `stop_delivery_worker` decides
        )
        stop = threading.Event()
        self.workers[name] = worker
        self._worker_runs[name] = (stop, worker.start(stop))
        return worker

    def stop_delivery_worker(self, name: str, *, flush: bool = False) -> None:
        """Stop the delivery worker of stream `name`. With `flush` it first delivers what it has
        buffered (a clean stop). Without, it stops as a killed process would: what it read but
        did not deliver is lost with it, its checkpoint has not moved past those records, and
        the next worker (`start_delivery_worker`) reads them again (at least once)."""
        stop, thread = self._worker_runs.pop(name)
        stop.set()
        thread.join(timeout=60)
        if flush:
            worker = self.workers[name]
            try:
                if not worker.flush():
                    self.log(f"{name}: stopped with an undelivered buffer")
            except Exception as err:
                self.log(f"{name}: the final flush failed: {err}")

    def stop_rule_engine(self) -> None:
        """Stop the topic rule engine as a crash would leave it: the messages it has not
        acknowledged, and those published while it is down, wait in its persistent session at
        the broker."""
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def start_rule_engine(self) -> TopicRuleEngine:
        """Start a new rule engine; it rejoins its session and receives what it missed."""
        if self.engine is not None:
            raise RuntimeError("the rule engine is running")
        self._start_rule_engine()
        assert self.engine
        return self.engine

    def _start_rule_engine(self) -> None:
        assert self.deployment
        assert self.broker
        rules = [
            TopicRuleConfig.from_cfn_properties(props, name=name)
            for name, props in self.deployment.runtime["AWS::IoT::TopicRule"].items()
        ]
        if not rules:
            return
        credentials = self.credentials(ENGINE_CLIENT_ID)
        mqtt = MqttConnection(
            host=self.broker.host,
            port=self.broker.port,
            ca_path=credentials.ca,
            cert_path=credentials.certificate,
            key_path=credentials.private_key,
            client_id=ENGINE_CLIENT_ID,
        )
        self.engine = TopicRuleEngine(rules, mqtt).start()

    # --- Kinesis event source mappings ---------------------------------------------------------

    def _start_event_sources(self) -> None:
        assert self.deployment
        for logical_id, props in self.deployment.runtime[EVENT_SOURCE_MAPPING].items():
            source = str(props.get("EventSourceArn", ""))
            if not is_kinesis_stream_arn(source):
                self.deployment.not_emulated[f"{EVENT_SOURCE_MAPPING} (source {source})"].append(
                    logical_id
                )
                continue
            function = self._function_named(str(props.get("FunctionName", "")))
            if function is None:
                self.deployment.not_emulated[
                    f"{EVENT_SOURCE_MAPPING} (function not running locally)"
                ].append(logical_id)
                continue
            config = KinesisMappingConfig.from_cfn_properties(props, mapping_id=props["Id"])
            if not config.enabled:
                continue
            role = self.deployment.functions.get(function.config.logical_id, {}).get("Role")
            self._source_targets[logical_id] = (config, function, role)
            self.start_event_source(logical_id)

    def _function_named(self, reference: str) -> LocalLambda | None:
        """The running function a mapping's FunctionName names: a name (what `Ref` of a
        function resolves to), a full or partial ARN, with or without a qualifier."""
        name = reference.split(":function:", 1)[-1].split(":", 1)[0]
        for function in self.functions.values():
            if function.name == name:
                return function
        return None

    def event_source_ids(self, which: str | None = None) -> list[str]:
        """Logical ids of the Kinesis event source mappings; with `which`, those whose logical
        id, function name or function logical id is `which`."""
        return [
            logical_id
            for logical_id, (_, function, _) in self._source_targets.items()
            if which in (None, logical_id, function.name, function.config.logical_id)
        ]

    def start_event_source(self, which: str) -> list[KinesisEventSource]:
        """Start the Kinesis event source mappings `which` names (see `event_source_ids`); a
        new poller resumes from the checkpoints on disk."""
        started: list[KinesisEventSource] = []
        for logical_id in self.event_source_ids(which):
            if logical_id in self._source_runs:
                raise RuntimeError(f"the event source mapping {logical_id} is running")
            config, function, role = self._source_targets[logical_id]
            source = KinesisEventSource(
                function,
                config,
                self.state_dir / "lambda-kinesis",
                invoke_identity_arn=role,
            )
            stop = threading.Event()
            self._source_runs[logical_id] = (stop, source.start(stop))
            self.event_sources[logical_id] = source
            started.append(source)
        return started

    def stop_event_source(self, which: str) -> list[str]:
        """Stop the Kinesis event source mappings `which` names, after the batch each is
        invoking: records not yet checkpointed are read again by the next poller (at least
        once). Returns the logical ids stopped."""
        stopped: list[str] = []
        for logical_id in self.event_source_ids(which):
            run = self._source_runs.pop(logical_id, None)
            if run is None:
                continue
            stop, thread = run
            stop.set()
            thread.join(timeout=60)
            stopped.append(logical_id)
        return stopped

    def _start_notifications_and_schedules(self) -> None:
        assert self.deployment
        for props in self.deployment.runtime["Custom::S3BucketNotifications"].values():
            config = props.get("NotificationConfiguration", {})
            for item in config.get("LambdaFunctionConfigurations", []):
                rules = item.get("Filter", {}).get("Key", {}).get("FilterRules", [])
                by_name = {rule["Name"].lower(): rule["Value"] for rule in rules}
                bridge = S3NotificationBridge(
                    props["BucketName"],
                    self.function(item["LambdaFunctionArn"]),
                    events=item["Events"],
                    prefix=by_name.get("prefix"),
                    suffix=by_name.get("suffix"),
                )
                self.threads.append(bridge.start(self.stop_event))
        for logical_id, props in self.deployment.runtime["AWS::Events::Rule"].items():
            expression = props.get("ScheduleExpression")
            if not expression or props.get("State", "ENABLED") != "ENABLED":
                continue
            for target in props.get("Targets", []):
                source = ScheduleSource(
                    parse_rate_expression(expression),
                    self.function(target["Arn"]),
                    rule_name=self.deployment.refs[logical_id],
                )
                self.threads.append(source.start(self.stop_event))

    # --- devices -------------------------------------------------------------------------------

    def credentials(self, thing_name: str) -> DeviceCredentials:
        """The local equivalent of iot:CreateKeysAndCertificate for a thing."""
        return self.ca.issue_device_certificate(thing_name)

    def thing_names(self) -> list[str]:
        assert self.deployment
        return [self.deployment.refs[lid] for lid in self.deployment.created["AWS::IoT::Thing"]]

    def write_env(self) -> Path:
        """`<state_dir>/env` (the endpoints) and `<state_dir>/outputs.json` (the stack's outputs,
        resolved, in the shape `cdk deploy --outputs-file` writes)."""
        path = self.state_dir / "env"
        lines = [f"{key}={value}" for key, value in self.endpoints.env().items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        outputs = {self.stack: self.outputs()}
        (self.state_dir / "outputs.json").write_text(json.dumps(outputs, indent=2) + "\n")
        return path

    def outputs(self) -> dict[str, Any]:
        """The template's Outputs, resolved against the local deployment (those that refer to
        something not emulated carry its placeholder)."""
        assert self.deployment
        template = StackTemplate.load(self.cdk_out, self.stack)
        resolver = Resolver(template, self.deployment.refs, self.deployment.attribute)
        resolved: dict[str, Any] = {}
        for name, output in template.body.get("Outputs", {}).items():
            try:
                resolved[name] = resolver.resolve(output["Value"])
            except TemplateError as err:
                self.log(f"output {name} not resolved locally: {err}")
        return resolved

    # --- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop in reverse order; the delivery workers flush what they buffered."""
        if self.engine is not None:
            self.engine.stop()
        self.stop_event.set()
        for stop, _ in [*self._worker_runs.values(), *self._source_runs.values()]:
            stop.set()
        for logical_id in list(self._source_runs):
            self.stop_event_source(logical_id)
        for name in list(self._worker_runs):
            self.stop_delivery_worker(name, flush=True)
        for thread in self.threads:
            thread.join(timeout=60)
        for function in self.functions.values():
            function.close()
        for service in (self.iot_data, self.broker, self.opensearch, self.athena, self.moto):
            if service is not None:
                service.stop()
