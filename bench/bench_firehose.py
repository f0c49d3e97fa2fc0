"""Local Firehose throughput: Kinesis (moto) -> delivery worker -> S3 (moto), GZIP JSON lines.

Puts READINGS topic-rule envelopes (CONTRACTS.md) into a 4-shard stream, then times a worker
draining the stream to S3 objects, once without transformation and once through the real
validator Lambda (lambdas/validator) running in the local Lambda runtime. Also times warm
synchronous invocations of that Lambda. Prints one line per figure.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from localcloud.firehose.delivery import DeliveryStreamConfig, DeliveryWorker  # noqa: E402
from localcloud.lambda_.function import LambdaFunctionConfig, LocalLambda  # noqa: E402
from localcloud.moto.server import MotoServer  # noqa: E402

READINGS = int(os.environ.get("BENCH_FIREHOSE_READINGS", "20000"))
STREAM = "bench-stream"
BUCKET = "bench-data"


def envelope(seq: int) -> bytes:
    reading = {
        "schema": 1,
        "device_id": "sensehat-01",
        "seq": seq,
        "ts": "2024-05-01T12:00:00.000Z",
        "temperature": 21.5,
        "humidity": 40.2,
        "pressure": 1013.2,
    }
    payload = base64.b64encode(json.dumps(reading).encode()).decode()
    body = {
        "payload": payload,
        "thing_name": "sensehat-01",
        "arrival_ms": 1714564800000 + seq,
        "client_id": "sensehat-01",
    }
    return json.dumps(body).encode()


def fill_stream(kinesis: object, count: int) -> None:
    for start in range(0, count, 500):
        entries = [
            {"Data": envelope(seq) + b"\n", "PartitionKey": f"device-{seq % 16}"}
            for seq in range(start, min(start + 500, count))
        ]
        kinesis.put_records(StreamName=STREAM, Records=entries)  # type: ignore[attr-defined]


def stream_props(name: str, processor_arn: str | None) -> dict[str, object]:
    destination: dict[str, object] = {
        "BucketARN": f"arn:aws:s3:::{BUCKET}",
        "Prefix": f"{name}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/",
        "ErrorOutputPrefix": f"errors-{name}/!{{firehose:error-output-type}}/",
        "CompressionFormat": "GZIP",
        "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
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


def drain(name: str, checkpoints: Path, function: LocalLambda | None) -> tuple[float, int]:
    config = DeliveryStreamConfig.from_cfn_properties(
        name, stream_props(name, function.arn if function else None)
    )
    worker = DeliveryWorker(
        config, processor=function.invoke if function else None, checkpoint_dir=checkpoints
    )
    started = time.perf_counter()
    if not worker.drain():
        raise RuntimeError(f"{name}: delivery did not complete")
    elapsed = time.perf_counter() - started
    return elapsed, worker.counters.records_delivered


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
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(moto.env())
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        fill_stream(kinesis, READINGS)

        elapsed, delivered = drain("plain", Path(tmp) / "cp", None)
        print(
            f"firehose_plain_records_per_second={delivered / elapsed:.0f} "
            f"(records={delivered}, kinesis->gzip s3, no transformation)"
        )

        with validator(moto.env()) as function:
            elapsed, delivered = drain("validated", Path(tmp) / "cp", function)
            print(
                f"firehose_validated_records_per_second={delivered / elapsed:.0f} "
                f"(records={delivered}, through the validator Lambda in the local runtime)"
            )
            event = {
                "invocationId": "bench",
                "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/b",
                "region": "us-east-1",
                "records": [
                    {
                        "recordId": "1",
                        "approximateArrivalTimestamp": 1714564800000,
                        "data": base64.b64encode(envelope(1)).decode(),
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
