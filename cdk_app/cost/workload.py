"""What one reading weighs on its way through the pipeline, and the few assumptions the template
cannot tell (how long a function runs, how much it logs).

Sizes are measured, not typed in: the reading is built by the device publisher's own code
(`device.reading`), the envelope as the topic rule builds it (CONTRACTS.md), the raw line as the
validator writes it, and the GZIP ratio by compressing an object's worth of such lines.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from device.reading import Sample, build_reading, encode

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
ARRIVAL_MS = 1_796_000_000_000  # 13 digits, as `timestamp()` gives
# The Basic Ingest prefix `$aws/rules/<rule name>/`; CloudFormation names the rule (up to 128
# characters); a generated name is about this long.
BASIC_INGEST_PREFIX = "$aws/rules/" + "x" * 40 + "/"


@dataclass(frozen=True)
class Assumptions:
    """What the template does not say. Each figure is a rough guess, to be replaced by measured
    figures from a deployed stack (CloudWatch `Duration`, log group `IncomingBytes`)."""

    validator_ms_per_invocation: float = 30.0
    validator_ms_per_record: float = 0.05
    alerter_ms_per_invocation: float = 20.0
    alerter_ms_per_device: float = 2.0  # one state Query per device in the batch
    alerter_ms_per_record: float = 0.05
    compactor_ms_per_object_event: float = 60.0  # count the object once (DynamoDB)
    compactor_ms_per_scheduled_run: float = 300.0
    compactor_seconds_per_batch: float = 8.0  # waits on Athena: discover, CTAS, copy, tag
    # Per invocation: Lambda's START/END/REPORT lines (JSON), unless its system log level is
    # WARN; Powertools' metrics (EMF), always; the handler's summary line, at DEBUG only.
    platform_log_bytes_per_invocation: int = 450
    metrics_log_bytes_per_invocation: int = 500
    summary_log_bytes_per_invocation: int = 250
    # Compacted rows read by a CTAS's de-duplication: the key columns of Parquet, about this
    # many bytes a row (device_id dictionary-encoded, seq, batch_id), of about this many batches
    # (the one before it in time; bench/bench_compaction_fleet.py).
    parquet_key_bytes_per_row: float = 6.0
    dedup_neighbour_batches: float = 1.0
    parquet_bytes_per_reading: float = 40.0
    # OpenSearch: bytes on disk per document per byte of its JSON (source plus index).
    search_disk_per_document_byte: float = 1.5
    search_free_space_fraction: float = 0.25


DEFAULT_ASSUMPTIONS = Assumptions()


@dataclass(frozen=True)
class ReadingSizes:
    payload_bytes: int  # the MQTT payload: the reading as the device encodes it
    telemetry_topic: str
    envelope_bytes: int  # the topic rule's output: the Kinesis record
    raw_line_bytes: int  # the validator's output line (S3 stream), before GZIP
    document_bytes: int  # the search stream's document
    gzip_ratio: float  # compressed / uncompressed, for an object of raw lines

    def topic(self, basic_ingest: bool) -> str:
        return (BASIC_INGEST_PREFIX if basic_ingest else "") + self.telemetry_topic


def sample_reading(device_id: str, seq: int, second: int) -> dict[str, object]:
    """A Sense HAT reading as the publisher builds it, with values that drift like a room's."""
    ts = dt.datetime(2026, 12, 2, tzinfo=dt.UTC) + dt.timedelta(seconds=second, milliseconds=137)
    wave = math.sin(second / 300)
    sample = Sample(
        ts=ts,
        temperature_raw=31.0 + 0.8 * wave + (seq % 7) * 0.013,
        humidity=41.0 + 2.5 * wave + (seq % 5) * 0.021,
        pressure=1013.2 + 0.3 * wave,
        cpu_temp=48.0 + 1.7 * wave + (seq % 3) * 0.11,
        pitch=1.5 + (seq % 11) * 0.07,
        roll=359.2 - (seq % 13) * 0.05,
        yaw=180.0 + 25 * wave,
    )
    return build_reading(sample, device_id, seq)


def envelope(payload: bytes, thing: str) -> bytes:
    """The topic rule's output (CONTRACTS.md, IoT topic rule): what each Kinesis record holds."""
    document = {
        "payload": base64.b64encode(payload).decode("ascii"),
        "thing_name": thing,
        "arrival_ms": ARRIVAL_MS,
        "client_id": thing,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def raw_line(reading: dict[str, object], thing: str) -> bytes:
    """The validator's `Ok` output for the S3 stream: the reading, thing_name, arrival_ms, `\\n`."""
    document = {**reading, "thing_name": thing, "arrival_ms": ARRIVAL_MS}
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


@cache
def reading_sizes(thing: str, first_seq: int = 1_000_000, lines: int = 600) -> ReadingSizes:
    """Sizes of one device's readings, and the GZIP ratio of `lines` of them (10 min at 1 Hz)."""
    readings = [sample_reading(thing, first_seq + i, i) for i in range(lines)]
    payloads = [encode(r) for r in readings]
    raw = b"".join(raw_line(r, thing) for r in readings)
    mean = sum(len(p) for p in payloads) / lines
    return ReadingSizes(
        payload_bytes=round(mean),
        telemetry_topic=f"sensors/{thing}/telemetry",
        envelope_bytes=round(sum(len(envelope(p, thing)) for p in payloads) / lines),
        raw_line_bytes=round(len(raw) / lines),
        document_bytes=round(len(raw) / lines) - 1,
        gzip_ratio=len(gzip.compress(raw)) / len(raw),
    )


_METRIC_NAME = re.compile(r"""(?:name=|\()"([A-Z][A-Za-z]+)",""")


def custom_metric_names(folder: str) -> set[str]:
    """The CloudWatch metrics a function's handler emits through Powertools (EMF)."""
    handler = LAMBDAS / folder / folder / "handler.py"
    return set(_METRIC_NAME.findall(handler.read_text(encoding="utf-8")))
