"""The AWS IoT topic rule engine on one machine: subscribe, evaluate the rule's SQL, run actions.

`TopicRuleConfig.from_cfn_properties(props)` reads the resolved properties of an
`AWS::IoT::TopicRule` resource from the synthesized template (`RuleName`, `TopicRulePayload`
with `Sql`, `AwsIotSqlVersion`, `RuleDisabled`, `Actions`, `ErrorAction`). The SQL is evaluated
by `localcloud.iot.sql`; actions `Kinesis` (records with the `PartitionKey` template) and `S3`
(PutObject at the `Key` template) are supported, in `Actions` and as `ErrorAction`; any other
action type is refused with an error naming it.

`TopicRuleEngine(rules, mqtt)` connects to the broker like a device (MQTT 5 over mutual TLS,
awsiotsdk/awscrt), subscribes with QoS 1 to the topic filter of every enabled rule, and for each
message evaluates every enabled rule whose filter matches it, then runs the rule's actions. If an
action fails, the rule's error action receives one message per rule and message, shaped as AWS
IoT's error action message: `ruleName`, `topic`, `cloudwatchTraceId`, `clientId`,
`base64OriginalPayload`, `failures[{failedAction, failedResource, errorMessage}]`.

Basic Ingest (AWS IoT Developer Guide, "Reducing messaging costs with Basic Ingest"): a message
published to `$aws/rules/<rule name>/<topic>` goes to the rule of that name only, which sees
`<topic>` (so `topic(2)` counts from after the prefix). The engine also subscribes to
`$aws/rules/<name>/<filter>` for each rule (mosquitto does not match topics beginning with `$`
with a leading `+` or `#`, so each is named); a message for a rule that is not enabled here is
dropped and counted in `EngineStats.rule_not_found` (AWS: the `RuleNotFound` metric).

Nothing is lost on a crash: the engine takes manual control of each QoS 1 PUBACK and sends it only
after every action (or the error action) of every matching rule has completed. Its session is
persistent (`REJOIN_ALWAYS`, session expiry `MqttConnection.session_expiry_s`), so messages that
were not acknowledged, and messages published while the engine was down, are delivered again
when it reconnects. Delivery to the actions is therefore at least once.

Broker identity: the engine connects with a client certificate whose CN is `ENGINE_CLIENT_ID`
(`localcloud-iot-rules`) unless told otherwise. The broker's ACL must let that identity read the
rules' topic filters (`rule_topic_filters(rules)`), e.g.
`localcloud.iot.broker.reader_acl("localcloud-iot-rules", *rule_topic_filters(rules))` ->
`user localcloud-iot-rules` / `topic read sensors/+/telemetry` /
`topic read $aws/rules/<rule>/sensors/+/telemetry`. The broker should queue enough
messages for an offline persistent session (`max_queued_messages`).

Differences from AWS
--------------------
- IoT Core runs rules inside the broker and sees every message; here the engine is an MQTT
  subscriber. It sees what its ACL lets it read, and the broker queues for it while it is down.
- `clientid()` is the empty string: MQTT does not tell a subscriber who published a message.
  (In the pipeline the topic's thing name, `topic(2)`, carries the publisher's identity, and the
  broker's ACL ties it to the certificate.)
- `timestamp()` is the time the engine received the message, not the broker's arrival time.
- `RoleArn` is recorded but not assumed: boto3 uses the environment's credentials (the
  account's, which IAM does not restrict locally) and endpoints (`AWS_ENDPOINT_URL`). The
  engine batches into PutRecords where AWS calls PutRecord, so the rule's role (granted
  `kinesis:PutRecord`) would be refused locally for a call AWS never makes.
- The broker does not hold the engine to its receive maximum: mosquitto 2.0 (up to at least
  2.0.11) moves up to receive-maximum queued messages into flight for every PUBACK of the oldest
  message in flight (`db__message_delete_outgoing` counts only the messages in flight before the
  acknowledged one), so whatever is queued for the engine's session reaches it as fast as the
  broker can send. IoT Core has no such queue in front of a rule. Under load this also
  stalls the engine's client: with thousands of messages in flight mosquitto takes the
  engine's PUBACKs slowly, they queue in the awscrt client (0.36.1), which inserts each manual
  PUBACK by walking the PUBACKs already queued (`s_aws_mqtt5_client_queue_puback`); its
  event-loop thread then spends its time there, reads and writes nothing, and the broker
  drops the connection after 1.5 x keep-alive and sends every unacknowledged message again.
  It happened when other threads of the process held the interpreter lock (see `start`), so
  the local cloud runs the engine in a process of its own (`localcloud.iot.engine_process`).
- Messages are handled by one worker in arrival order. Messages that arrived together (up to
  `batch_size`, by default PutRecords' maximum of 500 records) are put to Kinesis with one
  PutRecords call, in arrival order; AWS calls PutRecord once per message and runs rules in
  parallel. Per-record failures of PutRecords are handled per message, exactly as a failed
  PutRecord would be.
- When an action fails and the error action also fails (or the rule has none), AWS drops the
  message (only a metric records it). The engine instead retries the error action (or the
  failed actions when there is no error action) with a growing delay and does not acknowledge
  the message, so it is not lost; on `stop()` it stays unacknowledged and is redelivered on the
  next start. Actions that had succeeded may then run again (at least once).
- A message whose payload is not JSON while the SQL refers to JSON names is counted in
  `EngineStats.parse_errors` (AWS: the `ParseError` metric) and acknowledged without actions,
  as in AWS. The pipeline's rule uses `encode(*, 'base64')` and never hits this.
- Kinesis `PartitionKey` missing: a random UUID is used. Only `Kinesis` and `S3` actions exist.
- Basic Ingest: the message passes the broker (mosquitto applies the publisher's ACL, which is
  the IoT policy, and queues it for the engine's session), where IoT Core hands it to the rule
  without the broker. The rule's FROM filter must match the topic after the prefix; AWS documents
  FROM as optional for a rule used only through Basic Ingest, which the local SQL parser is not.
  A client may subscribe to a Basic Ingest topic here if the broker's ACL lets it read one (only
  the engine's does); IoT Core refuses such a subscription.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from botocore.config import Config

from localcloud.core.service import Service
from localcloud.iot.ca import DeviceCredentials
from localcloud.iot.sql import (
    SQL_VERSION,
    Message,
    PayloadParseError,
    SqlError,
    Statement,
    Template,
    parse,
    parse_template,
)

log = logging.getLogger(__name__)

ENGINE_CLIENT_ID = "localcloud-iot-rules"
# The interpreter's switch interval while an engine runs (Python's default: 5 ms). The MQTT
# client's event-loop thread takes the interpreter lock once for every message it receives and
# writes the engine's PUBACKs and PINGREQs only between those; see `TopicRuleEngine.start`.
GIL_SWITCH_INTERVAL_S = 0.0005
SUPPORTED_ACTIONS = ("Kinesis", "S3")
BASIC_INGEST_PREFIX = "$aws/rules/"


def basic_ingest_target(topic: str) -> tuple[str, str] | None:
    """(rule name, the topic the rule sees) of a Basic Ingest topic, else None."""
    if not topic.startswith(BASIC_INGEST_PREFIX):
        return None
    rule, _, rest = topic[len(BASIC_INGEST_PREFIX) :].partition("/")
    return rule, rest


class UnsupportedRuleError(ValueError):
    """A topic rule the local engine cannot run exactly as AWS would; the message says why."""


# ---------------------------------------------------------------------------------------------
# Configuration from the template


class AwsClients:
    """boto3 clients, made on first use from the environment (AWS_ENDPOINT_URL, credentials)."""

    def __init__(self, kinesis: Any = None, s3: Any = None) -> None:
        self._kinesis = kinesis
        self._s3 = s3
        self._lock = threading.Lock()

    @property
    def kinesis(self) -> Any:
        """Without botocore's client-side parameter validation (a tenth of the engine's time
        per record under load): the engine checks each partition key itself, and a record's
        data is an IoT message (128 KB at most), far under Kinesis's 1 MiB; Kinesis still
        validates every request."""
        with self._lock:
            if self._kinesis is None:
                self._kinesis = boto3.client("kinesis", config=Config(parameter_validation=False))
            return self._kinesis

    @property
    def s3(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = boto3.client("s3")
            return self._s3


@dataclass(frozen=True)
class KinesisAction:
    stream_name: str
    partition_key: Template | None
    role_arn: str = ""

    failed_action = "KinesisAction"

    @property
    def resource(self) -> str:
        return self.stream_name

    def run(self, payload: bytes, message: Message, clients: AwsClients) -> None:
        [error] = self.run_batch([(payload, message)], clients)
        if error is not None:
            raise error

    def run_batch(
        self, items: list[tuple[bytes, Message]], clients: AwsClients
    ) -> list[Exception | None]:
        """Put every item's payload; one result per item (None for success), in order."""
        results: list[Exception | None] = [None] * len(items)
        pending: list[tuple[int, dict[str, Any]]] = []
        for index, (payload, message) in enumerate(items):
            key = self.partition_key.render(message) if self.partition_key else str(uuid.uuid4())
            if not 1 <= len(key) <= 256:
                results[index] = ValueError(f"partition key {key!r} must be 1 to 256 characters")
                continue
            pending.append((index, {"Data": payload, "PartitionKey": key}))
        for chunk in put_records_chunks(pending):
            try:
                response = clients.kinesis.put_records(
                    StreamName=self.stream_name, Records=[entry for _, entry in chunk]
                )
            except Exception as err:
                for index, _ in chunk:
                    results[index] = err
                continue
            for (index, _), record in zip(chunk, response["Records"], strict=True):
                if record.get("ErrorCode"):
                    results[index] = RuntimeError(
                        f"{record['ErrorCode']}: {record.get('ErrorMessage', '')}"
                    )
        return results

    def describe(self, error: Exception, message: Message) -> str:
        return (
            f"Failed to put record to Kinesis stream. The error received was {error}. "
            f"Message arrived on: {message.topic}, Action: kinesis, Stream: {self.stream_name}"
        )


@dataclass(frozen=True)
class S3Action:
    bucket_name: str
    key: Template
    role_arn: str = ""
    canned_acl: str | None = None

    failed_action = "S3Action"

    @property
    def resource(self) -> str:
        return self.bucket_name

    def run_batch(
        self, items: list[tuple[bytes, Message]], clients: AwsClients
    ) -> list[Exception | None]:
        results: list[Exception | None] = []
        for payload, message in items:
            try:
                self.run(payload, message, clients)
                results.append(None)
            except Exception as err:
                results.append(err)
        return results

    def run(self, payload: bytes, message: Message, clients: AwsClients) -> None:
        key = self.key.render(message)
        if not key:
            raise ValueError(f"object key template {self.key.text!r} rendered an empty key")
        extra = {"ACL": self.canned_acl} if self.canned_acl else {}
        clients.s3.put_object(Bucket=self.bucket_name, Key=key, Body=payload, **extra)

    def describe(self, error: Exception, message: Message) -> str:
        return (
            f"Failed to put S3 object. The error received was {error}. "
            f"Message arrived on: {message.topic}, Action: s3, Bucket: {self.bucket_name}, "
            f'Key: "{self.key.text}"'
        )


Action = KinesisAction | S3Action
PUT_RECORDS_MAX_RECORDS = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024


def put_records_chunks(
    entries: list[tuple[int, dict[str, Any]]],
) -> Iterable[list[tuple[int, dict[str, Any]]]]:
    """PutRecords requests: at most 500 records and 5 MiB (data plus partition keys) each."""
    chunk: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry[1]["Data"]) + len(entry[1]["PartitionKey"].encode("utf-8"))
        if chunk and (
            len(chunk) == PUT_RECORDS_MAX_RECORDS or size + entry_size > PUT_RECORDS_MAX_BYTES
        ):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


@dataclass(frozen=True)
class TopicRuleConfig:
    name: str
    statement: Statement
    actions: tuple[Action, ...]
    error_action: Action | None = None
    disabled: bool = False

    @property
    def sql(self) -> str:
        return self.statement.sql

    @property
    def topic_filter(self) -> str:
        return self.statement.topic_filter

    @property
    def basic_ingest_filter(self) -> str:
        """The topic filter of the rule's Basic Ingest topics: `$aws/rules/<name>/<filter>`."""
        return f"{BASIC_INGEST_PREFIX}{self.name}/{self.topic_filter}"

    @classmethod
    def from_cfn_properties(
        cls, props: Mapping[str, Any], name: str | None = None
    ) -> TopicRuleConfig:
        """A rule from the resolved `Properties` of an `AWS::IoT::TopicRule` resource.

        `name` is used when the properties have no `RuleName` (CloudFormation then generates
        one; the deployer may pass the logical id). Raises UnsupportedRuleError naming the
        problem: an unsupported action type, SQL version or SQL feature, or a missing property.
        """
        rule_name = props.get("RuleName") or name or "TopicRule"
        where = f"topic rule {rule_name!r}"
        payload = props.get("TopicRulePayload")
        if not isinstance(payload, Mapping):
            raise UnsupportedRuleError(f"{where}: TopicRulePayload is missing")
        version = payload.get("AwsIotSqlVersion", "2015-10-08")
        if version != SQL_VERSION:
            raise UnsupportedRuleError(
                f"{where}: AwsIotSqlVersion {version!r} is not supported by the local engine "
                f"(only {SQL_VERSION!r})"
            )
        sql = _string(payload, "Sql", where)
        try:
            statement = parse(sql)
        except SqlError as err:
            raise UnsupportedRuleError(f"{where}: {err}") from err
        actions = payload.get("Actions", [])
        if not isinstance(actions, list):
            raise UnsupportedRuleError(f"{where}: Actions must be a list")
        error_action = payload.get("ErrorAction")
        return cls(
            name=str(rule_name),
            statement=statement,
            actions=tuple(_action(a, f"{where} action {i}") for i, a in enumerate(actions)),
            error_action=_action(error_action, f"{where} ErrorAction") if error_action else None,
            disabled=_boolean(payload.get("RuleDisabled", False)),
        )


def _action(spec: Any, where: str) -> Action:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise UnsupportedRuleError(f"{where}: an action must have exactly one action type")
    [(kind, props)] = spec.items()
    if kind not in SUPPORTED_ACTIONS:
        raise UnsupportedRuleError(
            f"{where}: action type {kind!r} is not supported by the local rule engine "
            f"(supported: {', '.join(SUPPORTED_ACTIONS)})"
        )
    if not isinstance(props, Mapping):
        raise UnsupportedRuleError(f"{where}: {kind} properties must be an object")
    where = f"{where} ({kind})"
    try:
        if kind == "Kinesis":
            partition_key = props.get("PartitionKey")
            return KinesisAction(
                stream_name=_string(props, "StreamName", where),
                partition_key=(
                    parse_template(_string(props, "PartitionKey", where)) if partition_key else None
                ),
                role_arn=str(props.get("RoleArn", "")),
            )
        return S3Action(
            bucket_name=_string(props, "BucketName", where),
            key=parse_template(_string(props, "Key", where)),
            role_arn=str(props.get("RoleArn", "")),
            canned_acl=props.get("CannedAcl"),
        )
    except SqlError as err:
        raise UnsupportedRuleError(f"{where}: {err}") from err


def _string(props: Mapping[str, Any], key: str, where: str) -> str:
    value = props.get(key)
    if value is None:
        raise UnsupportedRuleError(f"{where}: property {key} is missing")
    if not isinstance(value, str):
        raise UnsupportedRuleError(
            f"{where}: property {key} is not a resolved string: {json.dumps(value)}"
        )
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


# ---------------------------------------------------------------------------------------------
# Running a rule on one message


@dataclass(frozen=True)
class Failure:
    failed_action: str
    failed_resource: str
    error_message: str

    def as_json(self) -> dict[str, str]:
        return {
            "failedAction": self.failed_action,
            "failedResource": self.failed_resource,
            "errorMessage": self.error_message,
        }


@dataclass
class RuleOutcome:
    """What happened when one rule met one message."""

    rule: str
    matched: bool = False
    parse_error: str | None = None
    failures: list[Failure] = field(default_factory=list)
    error_action_failure: str | None = None
    attempts: int = 0
    output: bytes = b""

    @property
    def settled(self) -> bool:
        """True when the message may be acknowledged for this rule."""
        return not self.failures or self.error_action_failure is None


def output_bytes(output: dict[str, Any] | bytes) -> bytes:
    if isinstance(output, bytes):
        return output
    return json.dumps(output, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_message(rule: TopicRuleConfig, message: Message, failures: Iterable[Failure]) -> bytes:
    """The error action's input, as AWS IoT documents it (rule-error-handling)."""
    document = {
        "ruleName": rule.name,
        "topic": message.topic,
        "cloudwatchTraceId": str(uuid.uuid4()),
        "clientId": message.client_id,
        "base64OriginalPayload": base64.b64encode(message.payload).decode("ascii"),
        "failures": [failure.as_json() for failure in failures],
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def run_actions(
    actions: Iterable[Action], payload: bytes, message: Message, clients: AwsClients
) -> list[Failure]:
    failures = []
    for action in actions:
        [error] = action.run_batch([(payload, message)], clients)
        if error is not None:
            failures.append(_failure(action, error, message))
    return failures


def _failure(action: Action, error: Exception, message: Message) -> Failure:
    log.warning("%s to %s failed: %s", action.failed_action, action.resource, error)
    return Failure(action.failed_action, action.resource, action.describe(error, message))


def execute_rule_batch(
    rule: TopicRuleConfig, messages: list[Message], clients: AwsClients
) -> list[RuleOutcome]:
    """Evaluate one rule on messages received together, run its actions, and its error action
    on failure: one outcome per message, in order.

    Each action gets all matching messages at once (Kinesis: PutRecords in arrival order).
    """
    outcomes = [RuleOutcome(rule=rule.name) for _ in messages]
    live: list[int] = []
    for index, message in enumerate(messages):
        outcome = outcomes[index]
        try:
            output = rule.statement.evaluate(message)
        except PayloadParseError as err:
            outcome.parse_error = str(err)
            log.warning("rule %s: %s (topic %s)", rule.name, err, message.topic)
            continue
        if output is None:
            continue
        outcome.matched, outcome.output, outcome.attempts = True, output_bytes(output), 1
        live.append(index)
    for action in rule.actions:
        items = [(outcomes[i].output, messages[i]) for i in live]
        for index, error in zip(live, action.run_batch(items, clients), strict=True):
            if error is not None:
                outcomes[index].failures.append(_failure(action, error, messages[index]))
    for index in live:
        if outcomes[index].failures:
            run_error_action(rule, messages[index], clients, outcomes[index])
    return outcomes


def run_error_action(
    rule: TopicRuleConfig, message: Message, clients: AwsClients, outcome: RuleOutcome
) -> None:
    """One more attempt to settle a failed rule: its error action, or its failed actions."""
    if rule.error_action is None:
        failed = {failure.failed_resource for failure in outcome.failures}
        retry = [a for a in rule.actions if a.resource in failed]
        remaining = run_actions(retry, outcome.output, message, clients)
        if remaining:
            outcome.error_action_failure = "no error action; " + remaining[0].error_message
        else:
            outcome.failures, outcome.error_action_failure = [], None
        return
    body = error_message(rule, message, outcome.failures)
    problems = run_actions([rule.error_action], body, message, clients)
    outcome.error_action_failure = problems[0].error_message if problems else None


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True)
class MqttConnection:
    """How the engine reaches the broker: mutual TLS like a device."""

    host: str
    port: int
    ca_path: Path
    cert_path: Path
    key_path: Path
    client_id: str = ENGINE_CLIENT_ID
    share_group: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 100
    keep_alive_s: int = 30

    @classmethod
    def issued(
        cls, host: str, port: int, credentials: DeviceCredentials, client_id: str
    ) -> MqttConnection:
        """As `client_id`, with the certificate `LocalCA.issue_device_certificate` issued."""
        return cls(
            host=host,
            port=port,
            ca_path=credentials.ca,
            cert_path=credentials.certificate,
            key_path=credentials.private_key,
            client_id=client_id,
        )

    def client_options(self) -> dict[str, Any]:
        """The awscrt MQTT 5 builder arguments every local service client shares: mTLS to the
        broker as `client_id`, keep-alive, reconnect back-off, no metrics."""
        return {
            "endpoint": self.host,
            "port": self.port,
            "cert_filepath": str(self.cert_path),
            "pri_key_filepath": str(self.key_path),
            "ca_filepath": str(self.ca_path),
            "client_id": self.client_id,
            "keep_alive_interval_sec": self.keep_alive_s,
            "min_reconnect_delay_ms": 200,
            "max_reconnect_delay_ms": 5000,
            "enable_metrics_collection": False,
        }

    def lifecycle_options(
        self, connected: threading.Event, stopped: threading.Event, who: str
    ) -> dict[str, Any]:
        """The builder's lifecycle callbacks: `connected` follows the connection, `stopped` is
        set when the client has stopped; a failed connection attempt and a lost connection are
        logged as `who`'s, with the reason (the client then reconnects by itself)."""
        where = f"{self.host}:{self.port}"

        def disconnected(data: mqtt5.LifecycleDisconnectData) -> None:
            connected.clear()
            reason = disconnect_reason(data)
            if reason is not None:
                log.warning("%s lost its connection to %s: %s", who, where, reason)

        return {
            "on_lifecycle_connection_success": lambda data: connected.set(),
            "on_lifecycle_disconnection": disconnected,
            "on_lifecycle_stopped": lambda data: stopped.set(),
            "on_lifecycle_connection_failure": lambda data: log.warning(
                "%s cannot connect to %s: %s", who, where, data.exception
            ),
        }


def disconnect_reason(data: mqtt5.LifecycleDisconnectData) -> str | None:
    """Why a client's connection ended, from the broker's DISCONNECT or the client's error; None
    when the client was told to stop."""
    name = getattr(data.exception, "name", "") or ""
    if name == "AWS_ERROR_MQTT5_USER_REQUESTED_STOP":
        return None
    packet = data.disconnect_packet
    if packet is not None:
        code = getattr(packet.reason_code, "name", packet.reason_code)
        detail = f" ({packet.reason_string})" if packet.reason_string else ""
        return f"the broker sent DISCONNECT {code}{detail}"
    return str(data.exception) or type(data.exception).__name__  # AwsCrtError: "NAME: text"


@dataclass
class EngineStats:
    received: int = 0
    matched: int = 0
    parse_errors: int = 0
    action_failures: int = 0
    error_actions: int = 0
    retries: int = 0
    acknowledged: int = 0
    rule_not_found: int = 0  # Basic Ingest messages naming no enabled rule of the engine


def rule_topic_filters(rules: Iterable[TopicRuleConfig]) -> list[str]:
    """What the engine subscribes to for `rules` (the broker must let it read each): every
    rule's FROM filter, and its Basic Ingest filter."""
    filters: dict[str, None] = {}
    for rule in rules:
        filters[rule.topic_filter] = None
        filters[rule.basic_ingest_filter] = None
    return list(filters)


@dataclass
class _Delivery:
    topic: str
    payload: bytes
    received_ms: int
    acknowledge: Callable[[], None]


class TopicRuleEngine(Service):
    """Subscribes for the enabled rules and runs them on every message; a context manager."""

    def __init__(
        self,
        rules: Iterable[TopicRuleConfig],
        mqtt: MqttConnection,
        clients: AwsClients | None = None,
        retry_delay_s: float = 0.5,
        max_retry_delay_s: float = 30.0,
        batch_size: int = PUT_RECORDS_MAX_RECORDS,
    ) -> None:
        self.rules = [rule for rule in rules if not rule.disabled]
        if not self.rules:
            raise ValueError("no enabled topic rule to run")
        self.mqtt = mqtt
        self.clients = clients or AwsClients()
        self.retry_delay_s = retry_delay_s
        self.max_retry_delay_s = max_retry_delay_s
        self.batch_size = max(1, batch_size)
        self.stats = EngineStats()
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None
        self._switch_interval: float | None = None  # the process's, put back by stop()
        self._client: Any = None

    @property
    def topic_filters(self) -> list[str]:
        filters = dict.fromkeys(rule_topic_filters(self.rules))
        if self.mqtt.share_group:
            return [f"$share/{self.mqtt.share_group}/{f}" for f in filters]
        return list(filters)

    # -- message handling (also usable without MQTT) --

    def process(
        self, topic: str, payload: bytes, received_ms: int | None = None
    ) -> list[RuleOutcome]:
        """Run every matching rule on one message until each is settled or the engine stops."""
        now = received_ms if received_ms is not None else int(time.time() * 1000)
        [outcomes] = self.process_batch([(topic, payload, now)])
        return outcomes

    def process_batch(self, messages: list[tuple[str, bytes, int]]) -> list[list[RuleOutcome]]:
        """`process` for messages received together (topic, payload, received ms); in order."""
        batch: list[Message] = []
        targets: list[str | None] = []  # the rule a Basic Ingest message names
        names = {rule.name for rule in self.rules}
        for published, payload, received_ms in messages:
            target = basic_ingest_target(published)
            if target is not None and target[0] not in names:
                log.warning("no enabled rule %r for a message on %s: dropped", target[0], published)
                with self._lock:
                    self.stats.rule_not_found += 1
            topic = target[1] if target else published
            targets.append(target[0] if target else None)
            batch.append(
                Message(topic=topic, payload=payload, client_id="", timestamp_ms=received_ms)
            )
        results: list[list[RuleOutcome]] = [[] for _ in batch]
        for rule in self.rules:
            indexes = [
                i
                for i, m in enumerate(batch)
                if targets[i] in (None, rule.name) and rule.statement.matches_topic(m.topic)
            ]
            if not indexes:
                continue
            outcomes = execute_rule_batch(rule, [batch[i] for i in indexes], self.clients)
            for index, outcome in zip(indexes, outcomes, strict=True):
                self._settle(rule, batch[index], outcome)
                results[index].append(outcome)
        return results

    def _settle(self, rule: TopicRuleConfig, message: Message, outcome: RuleOutcome) -> None:
        delay = self.retry_delay_s
        while not outcome.settled and not self._stopping.is_set():
            log.error(
                "rule %s: error action failed (%s); retrying in %.1fs, message kept",
                rule.name,
                outcome.error_action_failure,
                delay,
            )
            self._stopping.wait(delay)
            delay = min(delay * 2, self.max_retry_delay_s)
            run_error_action(rule, message, self.clients, outcome)
            outcome.attempts += 1
            with self._lock:
                self.stats.retries += 1
        self._count(outcome)

    def _count(self, outcome: RuleOutcome) -> None:
        with self._lock:
            self.stats.matched += outcome.matched
            self.stats.parse_errors += outcome.parse_error is not None
            self.stats.action_failures += bool(outcome.failures)
            self.stats.error_actions += bool(outcome.failures) and outcome.settled

    def _next_batch(self) -> list[_Delivery] | None:
        """Block for one delivery, then take what else is waiting (up to batch_size)."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # seen again after this batch
                break
            batch.append(more)
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if self._stopping.is_set():
                continue  # left unacknowledged: the broker delivers it again next session
            try:
                results = self.process_batch([(d.topic, d.payload, d.received_ms) for d in batch])
            except Exception:
                log.exception("%d messages could not be processed; not acknowledged", len(batch))
                continue
            for delivery, outcomes in zip(batch, results, strict=True):
                if all(outcome.settled for outcome in outcomes):
                    delivery.acknowledge()
                    with self._lock:
                        self.stats.acknowledged += 1

    # -- MQTT --

    def _on_publish(self, data: Any) -> None:
        packet = data.publish_packet
        handle = None
        if data.acquire_publish_acknowledgement_control is not None:
            handle = data.acquire_publish_acknowledgement_control()
        client = self._client

        def acknowledge() -> None:
            if handle is not None and client is not None:
                try:
                    client.invoke_publish_acknowledgement(handle)
                except Exception as err:  # the connection went away: the broker resends
                    log.warning("PUBACK for %s not sent: %s", packet.topic, err)

        with self._lock:
            self.stats.received += 1
        self._queue.put(
            _Delivery(
                packet.topic, bytes(packet.payload or b""), int(time.time() * 1000), acknowledge
            )
        )

    def _build_client(self) -> Any:
        return mqtt5_client_builder.mtls_from_path(
            **self.mqtt.client_options(),
            session_behavior=mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS,
            session_expiry_interval_sec=self.mqtt.session_expiry_s,
            receive_maximum=self.mqtt.receive_maximum,
            on_publish_received=self._on_publish,
            **self.mqtt.lifecycle_options(self._connected, self._stopped, "rule engine"),
        )

    def start(self, timeout: float = 30.0) -> TopicRuleEngine:
        """Connect, subscribe (QoS 1) and start the worker; raises if the broker refuses.

        It also shortens the process's switch interval to `GIL_SWITCH_INTERVAL_S` until `stop`.
        The awscrt client's event-loop thread calls `_on_publish` with the interpreter lock for
        every message, and only between those calls does it write PUBACKs and keep-alive
        PINGREQs. With the default 5 ms interval, each message waited up to 5 ms for the lock
        held by the worker or any other busy thread: the thread delivered a few hundred
        messages a second, the broker (which ignores the receive maximum, see above) kept
        sending, and while the thread worked through that backlog nothing reached the broker
        for 1.5 x keep-alive. The broker then dropped the connection and sent every
        unacknowledged message again. The local cloud therefore runs the engine in a process of
        its own (`localcloud.iot.engine_process`), where only its worker competes for the lock.
        """
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, GIL_SWITCH_INTERVAL_S))
        self._stopping.clear()
        self._stopped.clear()
        self._worker = threading.Thread(target=self._work, name="iot-rules", daemon=True)
        self._worker.start()
        self._client = self._build_client()
        self._client.start()
        if not self._connected.wait(timeout):
            self.stop()
            raise TimeoutError(
                f"rule engine could not connect to {self.mqtt.host}:{self.mqtt.port} "
                f"as {self.mqtt.client_id!r} within {timeout}s"
            )
        subscriptions = [
            mqtt5.Subscription(topic_filter=f, qos=mqtt5.QoS.AT_LEAST_ONCE)
            for f in self.topic_filters
        ]
        future: Future[Any] = self._client.subscribe(mqtt5.SubscribePacket(subscriptions))
        suback = future.result(timeout)
        granted = [mqtt5.SubackReasonCode.GRANTED_QOS_1, mqtt5.SubackReasonCode.GRANTED_QOS_0]
        refused = [
            f"{f} ({code.name if hasattr(code, 'name') else code})"
            for f, code in zip(self.topic_filters, suback.reason_codes, strict=False)
            if code not in granted
        ]
        if refused:
            self.stop()
            raise PermissionError(
                f"broker refused the rule engine's subscription as {self.mqtt.client_id!r}: "
                f"{', '.join(refused)}; the ACL must let this identity read these topics"
            )
        log.info("rule engine subscribed to %s", ", ".join(self.topic_filters))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages; unfinished ones stay unacknowledged for the next session."""
        self._stopping.set()
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None
        if self._client is not None:
            client = self._client
            self._client = None
            client.stop()
            if not self._stopped.wait(timeout):
                log.warning("MQTT client did not report stopped within %ss", timeout)
        self._connected.clear()
        self._queue = queue.Queue()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
