"""A batch of Kinesis records: decode, check, evaluate, send alerts, record state.

Records arrive in shard order, and the topic rule partitions the stream by thing name, so the
readings of one device arrive in the order the rule saw them. A record that is not a valid
reading (schema 1, inside the plausible time window) is skipped at once with its reason logged:
the S3 delivery stream's validator, which applies the same rules, records it with its reason in
`errors/invalid/`, so nothing is lost by not alerting on it. Decoding is total (any bytes give a
reading or a reason), and anything unexpected while decoding one record skips that record too,
so a record that cannot be read never holds back the shard.

For each transition the outputs are sent first and the state recorded after: a crash between
the two sends the alert again on the retry (same `alert_id`), never loses it. When anything
fails, the batch reports that record as its first failure (`ReportBatchItemFailures`); Lambda
retries from there, and readings already evaluated are skipped by their `seq`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from alerter.evaluation import MetricState, alert_message, apply, evaluate
from alerter.outputs import AlertOutputs
from alerter.places import DeviceRegistry
from alerter.tables import StateTable, ThresholdTable
from alerter.thresholds import METRICS, Resolved, ThresholdConfig, resolve
from validator.envelope import RecordContext, decode_envelope
from validator.reading import InvalidReading, TimeWindow, parse_payload, validate_reading

log = logging.getLogger(__name__)


@dataclass
class BatchSummary:
    records: int = 0
    evaluated: int = 0
    invalid: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    superseded: int = 0  # transitions a newer state had already replaced
    failed_at: str | None = None  # sequence number of the first record that failed

    def response(self) -> dict[str, Any]:
        failures = [] if self.failed_at is None else [{"itemIdentifier": self.failed_at}]
        return {"batchItemFailures": failures}

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "evaluated": self.evaluated,
            "invalid": self.invalid,
            "alerts": [alert["alert_id"] for alert in self.alerts],
            "superseded": self.superseded,
            "failed_at": self.failed_at,
        }


@dataclass
class _Device:
    """What a batch knows of a device: its alert state and the threshold set of each metric."""

    states: dict[str, MetricState]
    sets: dict[str, Resolved]


def decode_reading(record: KinesisStreamRecord, window: TimeWindow | None = None) -> dict[str, Any]:
    """The valid reading in a Kinesis record, or InvalidReading."""
    kinesis = record.kinesis
    context = RecordContext(record_id=kinesis.sequence_number, payload_base64="")
    envelope = decode_envelope(kinesis.data, context)
    return validate_reading(
        parse_payload(envelope.payload),
        envelope.thing_name,
        window or TimeWindow(),
        envelope.arrival_ms,
    )


class Alerter:
    def __init__(
        self,
        thresholds: ThresholdTable,
        defaults: ThresholdConfig,
        states: StateTable,
        outputs: AlertOutputs,
        now: Callable[[], str],
        window: TimeWindow | None = None,
        registry: DeviceRegistry | None = None,
    ) -> None:
        self.window = window or TimeWindow()
        self.registry = registry  # where each device is, for place thresholds
        self.thresholds = thresholds
        self.defaults = defaults
        self.states = states
        self.outputs = outputs
        self.now = now

    def handle(self, event: Mapping[str, Any]) -> BatchSummary:
        summary = BatchSummary()
        table = self.thresholds.config()
        known: dict[str, _Device] = {}
        for record in KinesisStreamEvent(dict(event)).records:
            summary.records += 1
            sequence = record.kinesis.sequence_number
            try:
                reading = decode_reading(record, self.window)
            except InvalidReading as err:
                summary.invalid += 1
                log.info("record %s is not a valid reading, not evaluated: %s", sequence, err)
                continue
            except Exception as err:  # a reader's bug must not hold back the shard
                summary.invalid += 1
                log.exception("record %s could not be decoded, not evaluated: %r", sequence, err)
                continue
            try:
                self._evaluate(reading, table, known, summary)
            except Exception:
                log.exception("record %s failed; the batch resumes from it", sequence)
                summary.failed_at = sequence
                break
        return summary

    def _evaluate(
        self,
        reading: dict[str, Any],
        table: ThresholdConfig,
        known: dict[str, _Device],
        summary: BatchSummary,
    ) -> None:
        name = str(reading["device_id"])
        if name not in known:  # once per device and batch: its state and its threshold sets
            place = self.registry.place_of(name) if self.registry is not None else None
            sets = {
                metric: found
                for metric in METRICS
                if (found := resolve(name, metric, table, self.defaults, place)) is not None
            }
            known[name] = _Device(self.states.load(name), sets)
        device = known[name]
        summary.evaluated += 1
        for transition in evaluate(reading, device.states, device.sets.get):
            after = apply(device.states, transition)
            alert = alert_message(transition, after, tuple(device.sets), self.now())
            self.outputs.send(alert)
            if self.states.record(transition, alert["evaluated_at"]):
                summary.alerts.append(alert)
                device.states = after
            else:
                summary.superseded += 1
                device.states = self.states.load(name)
