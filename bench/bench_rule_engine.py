"""The topic rule engine's cost per message: the pipeline's rule (CONTRACTS.md's envelope, the
Kinesis action keyed by thing name) run by `TopicRuleEngine.process_batch` on reading-sized
messages, put into a 4-shard stream on kinesalite behind the moto server's gateway (what the
local cloud runs). No MQTT: what the engine's worker does once a batch has arrived.

For each batch size (messages per PutRecords) and with botocore's client-side parameter
validation on and off, one line:

    RULE_ENGINE batch=<n> validation=<on|off> cpu_us_per_message=<x> messages_per_s=<y>

`cpu_us_per_message` is this process's CPU time (the engine's side: SQL, botocore, HTTP) over
the messages; `messages_per_s` is wall time, so it also counts the gateway and kinesalite and
whatever else runs on the machine. BENCH_RULE_ENGINE_MESSAGES (default 20000) messages each.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from localcloud.iot.rules import (  # noqa: E402
    AwsClients,
    MqttConnection,
    TopicRuleConfig,
    TopicRuleEngine,
)
from localcloud.kinesis.kinesalite import KinesaliteServer  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_RULE_ENGINE_MESSAGES", "20000"))
STREAM = "bench"
SQL = (
    "SELECT encode(*, 'base64') AS payload, topic(2) AS thing_name, "
    "timestamp() AS arrival_ms, clientid() AS client_id FROM 'sensors/+/telemetry'"
)
RULE = {
    "RuleName": "SensorIngest",
    "TopicRulePayload": {
        "AwsIotSqlVersion": "2016-03-23",
        "Sql": SQL,
        "Actions": [{"Kinesis": {"StreamName": STREAM, "PartitionKey": "${topic(2)}"}}],
    },
}
READING = {
    "schema": 1,
    "device_id": "load-001",
    "seq": 1,
    "ts": "2026-12-02T23:00:00.000Z",
    "temperature_c": 21.5,
    "humidity_pct": 40.1,
    "pressure_hpa": 1013.2,
}
NO_MQTT = MqttConnection(host="", port=0, ca_path=Path(), cert_path=Path(), key_path=Path())


def measure(batch: int, validation: bool) -> str:
    kinesis = boto3.client("kinesis", config=Config(parameter_validation=validation))
    rule = TopicRuleConfig.from_cfn_properties(RULE)
    engine = TopicRuleEngine([rule], NO_MQTT, clients=AwsClients(kinesis=kinesis), batch_size=batch)
    payload = json.dumps(READING).encode()
    messages = [(f"sensors/load-{n % 100:03d}/telemetry", payload, 0) for n in range(MESSAGES)]
    engine.process_batch(messages[:batch])  # warm: the client's first request
    cpu, wall = time.process_time(), time.monotonic()
    for start in range(0, MESSAGES, batch):
        engine.process_batch(messages[start : start + batch])
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return (
        f"RULE_ENGINE batch={batch} validation={'on' if validation else 'off'} "
        f"cpu_us_per_message={1e6 * cpu / MESSAGES:.0f} messages_per_s={MESSAGES / wall:.0f}"
    )


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as work,
        KinesaliteServer(path=Path(work) / "kinesis") as kinesalite,
        MotoServer(kinesis_upstream=kinesalite.endpoint) as moto,
    ):
        os.environ.update(moto.env())
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName=STREAM, ShardCount=4)
        kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
        for batch in (100, 500):
            for validation in (True, False):
                print(measure(batch, validation), flush=True)


if __name__ == "__main__":
    main()
