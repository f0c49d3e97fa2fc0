"""The compactor's SQL on the local Athena endpoint (DuckDB over moto's S3 and Glue).

The raw and compacted tables are defined with the stack's own columns (cdk_app.analytics) and
the layout of CONTRACTS.md. The real runner compacts batches of GZIP JSON-lines objects to
Parquet; the rows are read back through the compacted table and from the Parquet files.
"""

import gzip
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

athena_module = pytest.importorskip(
    "localcloud.athena.server",
    reason="the local Athena endpoint (localcloud/athena/server.py) is not there",
)
pq = pytest.importorskip("pyarrow.parquet")
analytics = pytest.importorskip("cdk_app.analytics")

from compactor_objects import BUCKET, s3_event  # noqa: E402

from compactor import handler  # noqa: E402
from compactor.athena import AthenaQueries  # noqa: E402
from compactor.batches import SUCCEEDED  # noqa: E402
from compactor.files import AwsBatchFiles  # noqa: E402
from compactor.objects import RawObject  # noqa: E402
from compactor.runner import Runner, retry_delay  # noqa: E402
from compactor.waiting import Deadline, wait_for_query  # noqa: E402

pytestmark = pytest.mark.integration

RESULTS = "query-results"
D1, D2 = "2025-06-30", "2025-07-01"  # in the past: projection ranges end at NOW
DEVICE = "sensehat-01"


def glue_columns(columns):
    return [{"Name": c.name, "Type": c.type.input_string} for c in columns]


# Input format, output format and SerDe of each classification (as Glue writes them).
FORMATS = {
    "json": (
        "org.apache.hadoop.mapred.TextInputFormat",
        "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "org.openx.data.jsonserde.JsonSerDe",
    ),
    "parquet": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    ),
}


def create_table(glue, database, name, prefix, columns, classification, last_day, hourly):
    """A table of BUCKET/<prefix> partitioned by `dt` (dates from 2025-01-01 to `last_day`,
    projected) and, if `hourly`, by `hour` (0-23, two digits)."""
    keys = [{"Name": "dt", "Type": "string"}]
    parameters = {
        "classification": classification,
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.range": f"2025-01-01,{last_day}",
        "projection.dt.format": "yyyy-MM-dd",
    }
    template = f"s3://{BUCKET}/{prefix}dt=${{dt}}/"
    if hourly:
        keys.append({"Name": "hour", "Type": "int"})
        parameters |= {
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
        }
        template += "hour=${hour}/"
    input_format, output_format, serde = FORMATS[classification]
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {**parameters, "storage.location.template": template},
            "PartitionKeys": keys,
            "StorageDescriptor": {
                "Columns": glue_columns(columns),
                "Location": f"s3://{BUCKET}/{prefix}",
                "InputFormat": input_format,
                "OutputFormat": output_format,
                "SerdeInfo": {"SerializationLibrary": serde},
            },
        },
    )


def create_tables(glue, settings):
    """The raw (JSON, dt/hour projection) and compacted (Parquet, dt projection) tables."""
    database = settings.glue_database
    raw, compacted = settings.raw_table, settings.compacted_table
    create_table(glue, database, raw, "raw/", analytics.RAW_COLUMNS, "json", "NOW", hourly=True)
    create_table(
        glue,
        database,
        compacted,
        "compacted/",
        analytics.COMPACTED_COLUMNS,
        "parquet",
        "NOW+1DAYS",
        hourly=False,
    )


@pytest.fixture
def lake(cloud, monkeypatch):
    """moto + the local Athena endpoint, the workgroup (enforced results) and both tables."""
    cloud.s3.create_bucket(Bucket=RESULTS)
    create_tables(cloud.glue, cloud.settings)
    with athena_module.AthenaServer(min_bytes_cutoff=0) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        client = boto3.client("athena")
        client.create_work_group(
            Name=cloud.settings.workgroup,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        cloud.athena = client
        yield cloud


def reading(seq, ts, temperature=21.5, flags=None, arrival_ms=None):
    row = {
        "schema": 1,
        "device_id": DEVICE,
        "seq": seq,
        "ts": ts,
        "temperature": temperature,
        "humidity": 45,  # an integer in JSON: typed as double
        "pressure": 1013.25,
        "thing_name": DEVICE,
        "arrival_ms": arrival_ms or 1_751_327_999_000 + seq,
    }
    if flags:
        row["flags"] = flags
    return row


def put_raw(cloud, dt, hour, name, rows, event_time="2025-07-01T00:05:00.000Z"):
    key = f"raw/dt={dt}/hour={hour:02d}/sensor-raw-1-{name}.gz"
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return RawObject(BUCKET, key, dt, hour, event_time)


def claim(cloud, batch_id, objects):
    now = datetime(2025, 7, 1, 0, 10, tzinfo=UTC)
    for obj in objects:
        assert cloud.store.register(obj, now)
    assert cloud.store.claim(objects, batch_id, "threshold", now)


def athena_queries(cloud):
    return AthenaQueries(cloud.athena, cloud.settings.workgroup, cloud.settings.glue_database)


def run_batches(cloud, engine=None, owner="runner", later=timedelta(0)):
    files = AwsBatchFiles(cloud.s3, cloud.glue)
    runner = Runner(
        cloud.store,
        engine or athena_queries(cloud),
        files,
        cloud.settings,
        lambda: datetime.now(UTC) + later,
        owner=owner,
    )
    return runner.run(Deadline(lambda: 120_000))


def query(cloud, sql):
    engine = athena_queries(cloud)
    query_id = engine.start(sql, uuid.uuid4().hex)
    status = wait_for_query(engine, query_id, Deadline(lambda: 60_000))
    assert status is not None and status.succeeded, status
    return engine.rows(query_id)


def compacted_rows(cloud):
    return query(
        cloud,
        "SELECT dt, batch_id, device_id, seq, CAST(ts AS varchar), temperature, humidity "
        "FROM readings ORDER BY seq",
    )


def parquet_tables(cloud, prefix):
    keys = cloud.keys(prefix)
    assert keys, f"no Parquet under {prefix}"
    return [
        pq.read_table(io.BytesIO(cloud.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()))
        for k in keys
    ]


BATCH_1 = "20250701T001000Z-00000001"
BATCH_2 = "20250701T002000Z-00000002"


@pytest.fixture
def first_batch(lake):
    """Three objects over two arrival hours holding readings of two dates, one re-delivered."""
    a1 = put_raw(lake, D1, 23, "a1", [reading(s, f"{D1}T23:58:0{s}.000Z") for s in range(1, 6)])
    a2 = put_raw(
        lake,
        D1,
        23,
        "a2",
        [
            reading(6, f"{D1}T23:59:00.000Z"),
            reading(7, f"{D1}T23:59:30.000Z", flags=["x"]),
            reading(8, f"{D1}T23:59:59.999Z"),
            reading(9, f"{D2}T00:00:01.000Z"),
        ],
    )
    a3 = put_raw(
        lake,
        D2,
        0,
        "a3",
        [reading(8, f"{D1}T23:59:59.999Z", arrival_ms=1_751_328_100_000)]  # re-delivered
        + [reading(s, f"{D2}T00:00:{s:02d}.000Z") for s in range(10, 13)],
    )
    # Same partition, not in the batch: must not be read.
    put_raw(lake, D1, 23, "other", [reading(100, f"{D1}T23:30:00.000Z")])
    claim(lake, BATCH_1, [a1, a2, a3])
    return lake


def test_ctas_writes_typed_deduplicated_parquet_per_reading_date(first_batch):
    cloud = first_batch
    report = run_batches(cloud)
    assert report.succeeded == [BATCH_1], cloud.store.load_batch(BATCH_1)

    rows = compacted_rows(cloud)
    assert [int(r[3]) for r in rows] == list(range(1, 13))  # seq 8 once, seq 100 not read
    by_seq = {int(r[3]): r for r in rows}
    assert by_seq[8][0] == D1 and by_seq[9][0] == D2  # the reading date, not the arrival date
    assert {r[1] for r in rows} == {BATCH_1}
    assert by_seq[8][4].startswith(f"{D1} 23:59:59.999")
    assert float(by_seq[1][6]) == 45.0

    d1 = parquet_tables(cloud, f"compacted/dt={D1}/batch={BATCH_1}/")
    schema = d1[0].schema
    assert str(schema.field("ts").type).startswith("timestamp")
    assert str(schema.field("arrival_ts").type).startswith("timestamp")
    assert str(schema.field("temperature").type) == "double"
    assert str(schema.field("humidity").type) == "double"
    assert str(schema.field("seq").type) == "int64"
    assert str(schema.field("flags").type).startswith("list<")
    assert "dt" not in schema.names
    assert sum(t.num_rows for t in d1) == 8
    assert (
        sum(t.num_rows for t in parquet_tables(cloud, f"compacted/dt={D2}/batch={BATCH_1}/")) == 4
    )
    temporary = [
        t["Name"]
        for t in cloud.glue.get_tables(DatabaseName="sensor_pipeline")["TableList"]
        if t["Name"].startswith("tmp_compaction_")
    ]
    assert temporary == []
    assert cloud.store.load_batch(BATCH_1).status == SUCCEEDED


def test_a_reading_re_delivered_into_a_later_batch_is_not_compacted_twice(first_batch):
    cloud = first_batch
    assert run_batches(cloud).succeeded == [BATCH_1]
    late = put_raw(
        cloud,
        D2,
        0,
        "a4",
        [
            reading(12, f"{D2}T00:00:12.000Z", arrival_ms=1_751_328_200_000),  # compacted before
            reading(13, f"{D2}T00:00:13.000Z"),
        ],
    )
    claim(cloud, BATCH_2, [late])
    assert run_batches(cloud).succeeded == [BATCH_2]
    rows = compacted_rows(cloud)
    assert [int(r[3]) for r in rows] == list(range(1, 14))
    assert [r[1] for r in rows if int(r[3]) == 13] == [BATCH_2]
    duplicates = query(
        cloud, "SELECT device_id, seq FROM readings GROUP BY device_id, seq HAVING count(*) > 1"
    )
    assert duplicates == []


def test_the_batch_queries_read_only_the_batch_objects(first_batch):
    cloud = first_batch
    assert run_batches(cloud).succeeded == [BATCH_1]
    batch = cloud.store.load_batch(BATCH_1)
    query_id = batch.step("discover").query_id
    execution = cloud.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    sizes = sum(
        cloud.s3.head_object(Bucket=BUCKET, Key=o.key)["ContentLength"] for o in batch.objects
    )
    assert execution["Statistics"]["DataScannedInBytes"] == sizes  # not the "other" object


BATCH_3 = "20250701T003000Z-00000003"


def scanned(cloud, batch_id, step):
    query_id = cloud.store.load_batch(batch_id).step(step).query_id
    execution = cloud.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    return execution["Statistics"]["DataScannedInBytes"]


def size(cloud, key):
    return cloud.s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]


def test_the_anti_join_reads_only_the_batches_of_the_same_seconds(first_batch):
    cloud = first_batch
    assert run_batches(cloud).succeeded == [BATCH_1]
    # BATCH_1's D1 output is larger than its D2 output; neither may be read for a batch of other
    # seconds, and only the D2 output for a batch of D2 00:00:12.
    late = put_raw(cloud, D2, 0, "a4", [reading(12, f"{D2}T00:00:12.000Z")])  # D2 00:00:12 again
    claim(cloud, BATCH_2, [late])
    later = put_raw(cloud, D2, 5, "a5", [reading(40, f"{D2}T05:00:00.000Z")])  # a new second
    claim(cloud, BATCH_3, [later])
    assert run_batches(cloud).succeeded == [BATCH_2, BATCH_3]

    d2_files = cloud.keys(f"compacted/dt={D2}/batch={BATCH_1}/")
    assert scanned(cloud, BATCH_2, f"ctas:{D2}") == size(cloud, late.key) + sum(
        size(cloud, k) for k in d2_files
    )
    assert scanned(cloud, BATCH_3, f"ctas:{D2}") == size(cloud, later.key)  # no anti-join
    assert [int(r[3]) for r in compacted_rows(cloud)] == [*range(1, 13), 40]


class FailsAfterWriting:
    """The first CTAS runs for real and writes its Parquet, but is reported FAILED: the worst
    case for a retry (complete output of a 'failed' attempt already in the table's folder)."""

    def __init__(self, engine):
        self.engine = engine
        self.failed_query = None

    def start(self, sql, token):
        query_id = self.engine.start(sql, token)
        if sql.startswith("CREATE TABLE") and self.failed_query is None:
            self.failed_query = query_id
        return query_id

    def status(self, query_id):
        status = self.engine.status(query_id)
        if query_id == self.failed_query and status.finished:
            return type(status)("FAILED", "injected: reported failed after writing")
        return status

    def rows(self, query_id):
        return self.engine.rows(query_id)


def test_an_injected_failure_then_retry_loses_nothing_and_duplicates_nothing(first_batch):
    cloud = first_batch
    real = athena_queries(cloud)
    flaky = FailsAfterWriting(real)
    first = run_batches(cloud, flaky, owner="first")
    assert first.failed == [BATCH_1]
    failed_table = f"tables/{flaky.failed_query}/"
    assert cloud.keys(failed_table, bucket=RESULTS)  # the 'failed' attempt wrote its table
    assert cloud.keys(f"compacted/dt={D1}/batch={BATCH_1}/") == []  # but nothing was moved

    assert cloud.store.load_batch(BATCH_1).attempts == 1
    assert run_batches(cloud, real, owner="too-early").succeeded == []  # waits out the delay

    # The scheduled invocation after the retry delay.
    later = retry_delay(0) + timedelta(seconds=1)
    second = run_batches(cloud, real, owner="second", later=later)
    assert second.succeeded == [BATCH_1], cloud.store.load_batch(BATCH_1)

    rows = compacted_rows(cloud)
    assert [int(r[3]) for r in rows] == list(range(1, 13))  # no loss, no second copy
    assert {r[1] for r in rows} == {BATCH_1}
    failed_files = [k for k in cloud.keys("compacted/") if flaky.failed_query in k]
    assert failed_files == []


class Context:
    function_name = "compactor"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:compactor"
    aws_request_id = "5b1f7c3e-1111-2222-3333-444455556666"

    def get_remaining_time_in_millis(self):
        return 120_000


def test_the_lambda_handler_compacts_a_batch_on_its_third_s3_event(lake, monkeypatch):
    monkeypatch.setenv("COMPACTION_THRESHOLD", "3")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    objects = [
        put_raw(lake, D1, 12, f"h{i}", [reading(20 + i, f"{D1}T12:00:0{i}.000Z")], now)
        for i in range(3)
    ]
    summaries = [
        handler.lambda_handler(s3_event(*batch), Context())
        for batch in ([objects[0]], [objects[1], objects[0]], [objects[2]])
    ]
    assert [s["counted"] for s in summaries] == [1, 1, 1]
    assert summaries[1]["duplicates"] == 1
    [batch_id] = summaries[2]["claimed"]
    assert summaries[2]["succeeded"] == [batch_id]
    rows = compacted_rows(lake)
    assert [(r[0], r[1], int(r[3])) for r in rows] == [(D1, batch_id, s) for s in (20, 21, 22)]
