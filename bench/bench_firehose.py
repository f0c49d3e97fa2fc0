"""Local Firehose throughput: Kinesis (kinesalite behind the moto server's gateway) -> delivery
worker -> S3 (moto), GZIP JSON lines, as the local cloud runs it.

Puts READINGS topic-rule envelopes (CONTRACTS.md) into a 4-shard stream, then times a worker
draining the stream to S3 objects with the demo's buffering (1 s, 5 MiB) and checkpoints kept by
the moto server: once without transformation and once through the real validator Lambda
(lambdas/validator) in the local Lambda runtime. Also times warm synchronous invocations of that
Lambda. Prints one line per figure.

`--profile` also prints where the validated drain spends its wall time (cProfile of the worker's
thread, cumulative seconds of each stage).

Usage: bench/bench_firehose.py [--readings N] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.firehose.delivery import DeliveryStreamConfig, DeliveryWorker  # noqa: E402
from localcloud.kinesis.kinesalite import KinesaliteServer  # noqa: E402
from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402

STREAM = "bench-stream"
BUCKET = "bench-data"
STAGES = {  # cProfile function name -> stage
    "read": "Kinesis GetRecords (KinesisSource.read)",
    "process": "transformation (firehose.processing.process)",
    "invoke": "  of which the Lambda round trip (LocalLambda.invoke)",
    "compress": "GZIP (gzip.compress)",
    "put_object": "S3 PutObject (boto3 -> moto)",
    "commit": "checkpoint (KinesisSource.commit)",
}


def envelope(seq: int, now: dt.datetime) -> bytes:
    reading = {
        "schema": 1,
        "device_id": "sensehat-01",
        "seq": seq,
        "ts": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "temperature": 21.5,
        "humidity": 40.2,
        "pressure": 1013.2,
    }
    payload = base64.b64encode(json.dumps(reading).encode()).decode()
    body = {
        "payload": payload,
        "thing_name": "sensehat-01",
        "arrival_ms": int(now.timestamp() * 1000),
        "client_id": "sensehat-01",
    }
    return json.dumps(body).encode()


def fill_stream(kinesis: Any, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    for start in range(0, count, 500):
        entries = [
            {"Data": envelope(seq, now), "PartitionKey": f"device-{seq % 16}"}
            for seq in range(start, min(start + 500, count))
        ]
        kinesis.put_records(StreamName=STREAM, Records=entries)


def stream_props(name: str, processor_arn: str | None) -> dict[str, object]:
    destination: dict[str, object] = {
        "BucketARN": f"arn:aws:s3:::{BUCKET}",
        "Prefix": f"{name}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/",
        "ErrorOutputPrefix": f"errors-{name}/!{{firehose:error-output-type}}/",
        "CompressionFormat": "GZIP",
        "BufferingHints": {"IntervalInSeconds": 1, "SizeInMBs": 5},  # the demo's
    }
    if processor_arn:
        destination["ProcessingConfiguration"] = {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": processor_arn},
                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": "1"},
                    ],
                }
            ],
        }
    return {
        "DeliveryStreamName": name,
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {
            "KinesisStreamARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}"
        },
        "ExtendedS3DestinationConfiguration": destination,
    }


def drain(
    name: str, moto: MotoServer, function: LocalLambda | None, profile: cProfile.Profile | None
) -> tuple[float, int]:
    config = DeliveryStreamConfig.from_cfn_properties(
        name, stream_props(name, function.arn if function else None)
    )
    worker = DeliveryWorker(
        config,
        processor=function.invoke if function else None,
        checkpoints=moto.checkpoints("firehose"),
    )
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        if not worker.drain():
            raise RuntimeError(f"{name}: delivery did not complete")
    finally:
        if profile is not None:
            profile.disable()
    elapsed = time.perf_counter() - started
    return elapsed, worker.counters.records_delivered


def print_stages(profile: cProfile.Profile, elapsed: float) -> None:
    stats = pstats.Stats(profile)
    cumulative: dict[str, float] = {}
    for (_, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        key = function.rsplit(".", 1)[-1]
        if key in STAGES:
            cumulative[key] = cumulative.get(key, 0.0) + row[3]
    for key, label in STAGES.items():
        seconds = cumulative.get(key, 0.0)
        print(f"stage {label}: {seconds:.2f} s ({seconds / elapsed:.0%} of the drain)")


def validator(env: dict[str, str]) -> LocalLambda:
    props = {
        "Handler": "validator.handler.lambda_handler",
        "Runtime": "python3.13",
        "Timeout": 60,
        "MemorySize": 256,
        "FunctionName": "bench-validator",
        "Environment": {
            "Variables": {
                "OUTPUT_FORMAT": "s3-lines",
                "INVALID_RECORDS": "write",
                "ERROR_BUCKET": BUCKET,
                "POWERTOOLS_SERVICE_NAME": "validator",
            }
        },
    }
    config = LambdaFunctionConfig.from_cfn_properties(
        "Validator", props, ROOT / "lambdas" / "validator"
    )
    return LocalLambda(config, env, log_path=Path(tempfile.gettempdir()) / "bench-validator.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            KinesaliteServer(path=work / "kinesis", log_path=work / "kinesalite.log") as kinesis,
            MotoServer(
                log_path=work / "moto.log",
                state=work / "moto.pickle",
                kinesis_upstream=kinesis.endpoint,
            ) as moto,
        ):
            os.environ.update(moto.env())
            client = boto3.client("kinesis")
            client.create_stream(StreamName=STREAM, ShardCount=4)
            client.get_waiter("stream_exists").wait(StreamName=STREAM)
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            fill_stream(client, args.readings)
            elapsed, delivered = drain("plain", moto, None, None)
            print(
                f"firehose_plain_records_per_second={delivered / elapsed:.0f} "
                f"(records={delivered}, kinesis->gzip s3, no transformation)"
            )
            with validator(moto.env()) as function:
                profile = cProfile.Profile() if args.profile else None
                elapsed, delivered = drain("validated", moto, function, profile)
                print(
                    f"firehose_validated_records_per_second={delivered / elapsed:.0f} "
                    f"(records={delivered}, through the validator Lambda in the local runtime)"
                )
                if profile is not None:
                    print_stages(profile, elapsed)
                invoke_latency(function)


def invoke_latency(function: LocalLambda) -> None:
    event = {
        "invocationId": "bench",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/b",
        "region": "us-east-1",
        "records": [
            {
                "recordId": "1",
                "approximateArrivalTimestamp": 1714564800000,
                "data": base64.b64encode(envelope(1, dt.datetime.now(dt.UTC))).decode(),
            }
        ],
    }
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        function.invoke(event)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    print(f"lambda_warm_invoke_p50_ms={statistics.median(timings):.2f} (1-record event)")
    print(f"lambda_warm_invoke_p95_ms={timings[int(len(timings) * 0.95)]:.2f}")


if __name__ == "__main__":
    main()
