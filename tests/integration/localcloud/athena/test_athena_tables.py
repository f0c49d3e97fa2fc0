"""The local Athena over Glue tables in moto: the raw JSON table with partition projection,
pruning and bytes scanned, "$path", CTAS to Parquet, views and DROP refused, the bytes-scanned
cutoff."""

import gzip
import io
import json
import time

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.athena.server import AthenaServer

pytestmark = pytest.mark.integration

BUCKET = "sensor-data"
RESULTS = "query-results"
DATABASE = "sensors"
DAY1, DAY2 = "2024-03-01", "2024-03-02"
READING_COLUMNS = [
    ("schema", "int"),
    ("device_id", "string"),
    ("seq", "bigint"),
    ("ts", "string"),
    ("temperature", "double"),
    ("humidity", "double"),
    ("pressure", "double"),
    ("flags", "array<string>"),
    ("thing_name", "string"),
    ("arrival_ms", "bigint"),
]
# partition -> number of readings; 1200 in all so results need more than one page
LAYOUT = {(DAY1, 0): 200, (DAY1, 7): 300, (DAY1, 13): 100, (DAY2, 0): 250, (DAY2, 7): 350}


@pytest.fixture
def athena(aws, monkeypatch):
    """The local Athena endpoint with boto3 pointed at it, over a clean moto."""
    with AthenaServer(min_bytes_cutoff=0) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        yield server


@pytest.fixture
def client(athena):
    return boto3.client("athena", config=Config(parameter_validation=False))


def readings(day: str, hour: int, count: int, first_seq: int) -> list[dict]:
    return [
        {
            "schema": 1,
            "device_id": "sensehat-01",
            "seq": first_seq + i,
            "ts": f"{day}T{hour:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "temperature": 20.0 + (i % 10) / 10,
            "humidity": 40.5,
            "pressure": 1001.25,
            "flags": ["humidity_out_of_range"] if i % 50 == 0 else None,
            "thing_name": "sensehat-01",
            "arrival_ms": 1709251200000 + first_seq + i,
        }
        for i in range(count)
    ]


def gzip_lines(rows: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())


@pytest.fixture
def raw(aws):
    """The raw table as CONTRACTS.md defines it, with GZIP JSON-lines objects from Firehose."""
    s3 = boto3.client("s3")
    glue = boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=RESULTS)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "raw",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "json",
                "projection.enabled": "true",
                "projection.dt.type": "date",
                "projection.dt.range": "2024-01-01,NOW",
                "projection.dt.format": "yyyy-MM-dd",
                "projection.hour.type": "integer",
                "projection.hour.range": "0,23",
                "projection.hour.digits": "2",
                "storage.location.template": f"s3://{BUCKET}/raw/dt=${{dt}}/hour=${{hour}}/",
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "int"}],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in READING_COLUMNS],
                "Location": f"s3://{BUCKET}/raw/",
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
            },
        },
    )
    objects = {}
    seq = 0
    for (day, hour), count in LAYOUT.items():
        key = f"raw/dt={day}/hour={hour:02d}/sensor-raw-1-{day}-{hour:02d}-00-00-{seq}.gz"
        body = gzip_lines(readings(day, hour, count, seq))
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        objects[(day, hour)] = (f"s3://{BUCKET}/{key}", len(body))
        seq += count
    return objects


def run(client, sql: str, workgroup: str = "primary", database: str = DATABASE) -> dict:
    """Start a query, poll until it finishes, return the QueryExecution."""
    query_id = client.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/adhoc/"},
        WorkGroup=workgroup,
    )["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not finish")


def succeeded(client, sql: str, **kwargs) -> dict:
    execution = run(client, sql, **kwargs)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return execution


def rows(client, execution: dict) -> list[list[str | None]]:
    """Every row (header first) through the paginator."""
    paginator = client.get_paginator("get_query_results")
    pages = paginator.paginate(QueryExecutionId=execution["QueryExecutionId"])
    return [
        [cell.get("VarCharValue") for cell in row["Data"]]
        for page in pages
        for row in page["ResultSet"]["Rows"]
    ]


def scanned(execution: dict) -> int:
    return execution["Statistics"]["DataScannedInBytes"]


def test_select_pages_through_all_readings_with_athena_types(client, raw):
    execution = succeeded(
        client, "SELECT device_id, seq, temperature, flags, dt, hour FROM raw ORDER BY seq"
    )
    first = client.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert len(first["ResultSet"]["Rows"]) == 1000
    assert "NextToken" in first
    columns = first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("device_id", "varchar"),
        ("seq", "bigint"),
        ("temperature", "double"),
        ("flags", "array"),
        ("dt", "varchar"),
        ("hour", "integer"),
    ]
    everything = rows(client, execution)
    assert everything[0] == ["device_id", "seq", "temperature", "flags", "dt", "hour"]
    assert len(everything) == 1 + sum(LAYOUT.values())
    assert [int(row[1]) for row in everything[1:]] == list(range(sum(LAYOUT.values())))
    assert everything[1] == ["sensehat-01", "0", "20.0", "[humidity_out_of_range]", DAY1, "0"]
    assert everything[2][3] is None  # a missing array is NULL
    assert scanned(execution) == sum(size for _, size in raw.values())


def test_results_are_written_as_csv_to_the_output_location(client, raw):
    execution = succeeded(client, "SELECT dt, count(*) AS n FROM raw GROUP BY dt ORDER BY dt")
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://{RESULTS}/adhoc/{execution['QueryExecutionId']}.csv"
    body = boto3.client("s3").get_object(Bucket=RESULTS, Key=location.split("/", 3)[3])["Body"]
    assert body.read().decode() == f'"dt","n"\n"{DAY1}","600"\n"{DAY2}","600"\n'


def test_partition_filters_shrink_bytes_scanned(client, raw):
    everything = succeeded(client, "SELECT count(*) FROM raw")
    one_day = succeeded(client, f"SELECT count(*) FROM raw WHERE dt = '{DAY2}'")
    one_hour = succeeded(
        client, f"SELECT count(*) FROM raw WHERE dt = '{DAY1}' AND hour IN (7, 13)"
    )
    in_range = succeeded(client, "SELECT count(*) FROM raw WHERE hour BETWEEN 5 AND 23")
    assert rows(client, one_day)[1] == ["600"]
    assert rows(client, one_hour)[1] == ["400"]
    assert rows(client, in_range)[1] == ["750"]
    assert scanned(everything) == sum(size for _, size in raw.values())
    assert scanned(one_day) == raw[(DAY2, 0)][1] + raw[(DAY2, 7)][1]
    assert scanned(one_hour) == raw[(DAY1, 7)][1] + raw[(DAY1, 13)][1]
    assert scanned(in_range) == raw[(DAY1, 7)][1] + raw[(DAY1, 13)][1] + raw[(DAY2, 7)][1]


def test_path_in_reads_only_the_named_objects(client, raw):
    first, first_size = raw[(DAY1, 7)]
    second, second_size = raw[(DAY2, 0)]
    execution = succeeded(
        client,
        f'SELECT "$path" AS path, "$file_size" AS size, count(*) AS n FROM raw '
        f"WHERE \"$path\" IN ('{first}', '{second}') GROUP BY 1, 2 ORDER BY 1",
    )
    assert rows(client, execution)[1:] == [
        [first, str(first_size), "300"],
        [second, str(second_size), "250"],
    ]
    assert scanned(execution) == first_size + second_size


def test_select_star_leaves_pseudo_columns_out(client, raw):
    execution = succeeded(client, 'SELECT *, "$path" AS p FROM raw LIMIT 1')
    header = rows(client, execution)[0]
    assert header == [name for name, _ in READING_COLUMNS] + ["dt", "hour", "p"]


def test_sub_folders_are_read_and_hidden_or_out_of_projection_objects_are_not(client, raw):
    s3 = boto3.client("s3")
    extra = gzip_lines(readings(DAY1, 0, 5, 5000))
    s3.put_object(Bucket=BUCKET, Key=f"raw/dt={DAY1}/hour=00/retry/late.gz", Body=extra)
    for key in (
        f"raw/dt={DAY1}/hour=00/_temporary/part.gz",
        f"raw/dt={DAY1}/hour=00/.hidden.gz",
        f"raw/dt={DAY1}/hour=7/wrong-digits.gz",
        "raw/dt=2023-12-31/hour=00/before-range.gz",
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip_lines(readings(DAY1, 0, 1, 9000)))
    execution = succeeded(client, f"SELECT count(*) FROM raw WHERE dt = '{DAY1}' AND hour = 0")
    assert rows(client, execution)[1] == ["205"]
    assert scanned(execution) == raw[(DAY1, 0)][1] + len(extra)


def test_analytics_sql_with_ctes_windows_and_date_functions(client, raw):
    execution = succeeded(
        client,
        """
        WITH typed AS (
          SELECT device_id, seq, from_iso8601_timestamp(ts) AS ts, temperature
          FROM raw WHERE dt = '2024-03-01'
        ), hourly AS (
          SELECT date_trunc('hour', ts) AS hour_start, avg(temperature) AS avg_t,
                 count(*) AS n, max(seq) - min(seq) + 1 AS span
          FROM typed GROUP BY 1
        )
        SELECT format_datetime(hour_start, 'yyyy-MM-dd HH') AS bucket, hour(hour_start) AS h,
               round(avg_t, 2) AS avg_t, n, span,
               sum(n) OVER (ORDER BY hour_start) AS running
        FROM hourly ORDER BY hour_start
        """,
    )
    assert rows(client, execution)[1:] == [
        ["2024-03-01 00", "0", "20.45", "200", "200", "200"],
        ["2024-03-01 07", "7", "20.45", "300", "300", "500"],
        ["2024-03-01 13", "13", "20.45", "100", "100", "600"],
    ]


CTAS = """
CREATE TABLE {table}
WITH (format = 'PARQUET', write_compression = 'ZSTD',
      external_location = 's3://{bucket}/compacted/dt={day}/batch={batch}/') AS
SELECT device_id, seq, CAST(from_iso8601_timestamp(ts) AS timestamp) AS ts, temperature,
       flags, CAST(from_unixtime(CAST(arrival_ms AS double) / 1000) AS timestamp) AS arrival_ts,
       '{batch}' AS batch_id
FROM raw WHERE dt = '{day}' AND "$path" IN ({paths})
"""


def compacted_table(glue) -> None:
    """The compacted table of CONTRACTS.md: Parquet, dt by projection, batches in sub-folders."""
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "compacted",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "projection.enabled": "true",
                "projection.dt.type": "date",
                "projection.dt.range": "2024-01-01,NOW",
                "projection.dt.format": "yyyy-MM-dd",
                "storage.location.template": f"s3://{BUCKET}/compacted/dt=${{dt}}/",
            },
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "device_id", "Type": "string"},
                    {"Name": "seq", "Type": "bigint"},
                    {"Name": "ts", "Type": "timestamp"},
                    {"Name": "temperature", "Type": "double"},
                    {"Name": "humidity", "Type": "double"},
                    {"Name": "flags", "Type": "array<string>"},
                    {"Name": "arrival_ts", "Type": "timestamp"},
                    {"Name": "batch_id", "Type": "string"},
                ],
                "Location": f"s3://{BUCKET}/compacted/",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": (
                        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    )
                },
            },
        },
    )


def test_ctas_writes_parquet_that_is_queryable_through_glue(client, raw):
    s3 = boto3.client("s3")
    glue = boto3.client("glue")
    batches = {"b1": [(DAY1, 0), (DAY1, 7)], "b2": [(DAY1, 13)], "b3": [(DAY2, 0)]}
    for batch, partitions in batches.items():
        day = partitions[0][0]
        paths = ", ".join(f"'{raw[p][0]}'" for p in partitions)
        sql = CTAS.format(table=f"tmp_{batch}", bucket=BUCKET, day=day, batch=batch, paths=paths)
        execution = succeeded(client, sql)
        assert execution["StatementType"] == "DDL"
        assert execution["SubstatementType"] == "CREATE_TABLE_AS_SELECT"
        assert scanned(execution) == sum(raw[p][1] for p in partitions)
        result = client.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
        assert result["UpdateCount"] == sum(LAYOUT[p] for p in partitions)

    table = glue.get_table(DatabaseName=DATABASE, Name="tmp_b1")["Table"]
    descriptor = table["StorageDescriptor"]
    assert descriptor["Location"] == f"s3://{BUCKET}/compacted/dt={DAY1}/batch=b1/"
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("device_id", "string"),
        ("seq", "bigint"),
        ("ts", "timestamp"),
        ("temperature", "double"),
        ("flags", "array<string>"),
        ("arrival_ts", "timestamp"),
        ("batch_id", "string"),
    ]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="compacted/")["Contents"]]
    assert len(keys) == 3
    parquet = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()))
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"

    count = succeeded(client, "SELECT count(*), count(DISTINCT seq), min(ts) FROM tmp_b1")
    assert rows(client, count)[1] == ["500", "500", "2024-03-01 00:00:00.000"]

    compacted_table(glue)
    per_day = succeeded(
        client,
        "SELECT dt, count(*), count(DISTINCT batch_id) FROM compacted GROUP BY dt ORDER BY dt",
    )
    assert rows(client, per_day)[1:] == [[DAY1, "600", "2"], [DAY2, "250", "1"]]
    one_day = succeeded(client, f"SELECT count(humidity) FROM compacted WHERE dt = '{DAY2}'")
    assert rows(client, one_day)[1] == ["0"]  # a Glue column absent from the files is NULL
    day2_key = next(k for k in keys if f"dt={DAY2}" in k)
    assert scanned(one_day) == s3.head_object(Bucket=BUCKET, Key=day2_key)["ContentLength"]


def test_ctas_into_a_location_that_holds_data_fails(client, raw):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="compacted/taken/x.parquet", Body=b"x")
    execution = run(
        client,
        f"CREATE TABLE t1 WITH (external_location = 's3://{BUCKET}/compacted/taken/') "
        "AS SELECT 1 AS a",
    )
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("HIVE_PATH_ALREADY_EXISTS")
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        boto3.client("glue").get_table(DatabaseName=DATABASE, Name="t1")


def test_ctas_with_a_time_zone_column_fails_as_in_athena(client, raw):
    execution = run(
        client, "CREATE TABLE t2 AS SELECT from_iso8601_timestamp(ts) AS ts FROM raw LIMIT 1"
    )
    assert execution["Status"]["State"] == "FAILED"
    assert (
        "Unsupported Hive type: timestamp(3) with time zone"
        in (execution["Status"]["StateChangeReason"])
    )


def test_partitioned_ctas_registers_partitions_that_prune(client, raw):
    glue = boto3.client("glue")
    succeeded(
        client,
        "CREATE TABLE daily WITH (format = 'PARQUET', partitioned_by = ARRAY['dt'], "
        f"external_location = 's3://{BUCKET}/daily/') AS "
        "SELECT seq, temperature, dt FROM raw",
    )
    partitions = glue.get_partitions(DatabaseName=DATABASE, TableName="daily")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == [DAY1, DAY2]
    assert {p["StorageDescriptor"]["Location"] for p in partitions} == {
        f"s3://{BUCKET}/daily/dt={DAY1}/",
        f"s3://{BUCKET}/daily/dt={DAY2}/",
    }
    everything = succeeded(client, "SELECT count(*) FROM daily")
    one_day = succeeded(client, f"SELECT count(*) FROM daily WHERE dt = '{DAY1}'")
    assert rows(client, one_day)[1] == ["600"]
    assert 0 < scanned(one_day) < scanned(everything)


def test_views_and_drop_are_refused(client, raw):
    drop = run(client, "DROP TABLE raw")
    assert drop["Status"]["State"] == "FAILED"
    assert drop["Status"]["StateChangeReason"].startswith("NOT_SUPPORTED: ")
    boto3.client("glue").create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "plain_view",
            "TableType": "VIRTUAL_VIEW",
            "ViewOriginalText": "SELECT count(*) AS n FROM raw",
            "StorageDescriptor": {"Columns": [{"Name": "n", "Type": "bigint"}]},
        },
    )
    view = run(client, "SELECT n FROM plain_view")
    assert view["Status"]["State"] == "FAILED"
    assert "HIVE_UNSUPPORTED_FORMAT" in view["Status"]["StateChangeReason"]
    assert rows(client, succeeded(client, "SELECT count(*) FROM raw"))[1] == ["1200"]


def test_a_query_over_the_bytes_scanned_cutoff_fails(client, raw):
    total = sum(size for _, size in raw.values())
    client.create_work_group(
        Name="capped",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/capped/"},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": total - 1,
        },
    )
    too_much = run(client, "SELECT count(*) FROM raw", workgroup="capped")
    assert too_much["Status"]["State"] == "FAILED"
    assert "Bytes scanned limit was exceeded" in too_much["Status"]["StateChangeReason"]
    assert too_much["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{RESULTS}/capped/")
    pruned = succeeded(client, f"SELECT count(*) FROM raw WHERE dt = '{DAY1}'", workgroup="capped")
    assert rows(client, pruned)[1] == ["600"]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC 1", "SYNTAX_ERROR: line 1:"),
        ("SELECT * FROM no_such_table", "TABLE_NOT_FOUND: Table 'awsdatacatalog.sensors.no_such"),
        ("SELECT * FROM nowhere.raw", "SCHEMA_NOT_FOUND: Schema 'nowhere' does not exist"),
        ("SELECT no_such_column FROM raw", 'COLUMN_NOT_FOUND: Referenced column "no_such_column"'),
        ("SELECT count(*) / 0 FROM raw", "DIVISION_BY_ZERO: "),
    ],
)
def test_bad_queries_fail_with_a_reason(client, raw, sql, reason):
    execution = run(client, sql)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith(reason)
    assert execution["Status"]["AthenaError"]["ErrorCategory"] == 2
    with pytest.raises(ClientError, match="InvalidRequestException"):
        client.get_query_results(QueryExecutionId=execution["QueryExecutionId"])


def test_malformed_json_fails_unless_the_serde_ignores_it(client, raw):
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=BUCKET,
        Key=f"raw/dt={DAY2}/hour=23/broken.gz",
        Body=gzip.compress(b'{"seq": 1}\n{"seq": \n'),
    )
    failed = run(client, f"SELECT count(*) FROM raw WHERE dt = '{DAY2}' AND hour = 23")
    assert failed["Status"]["State"] == "FAILED"
    assert failed["Status"]["StateChangeReason"].startswith("HIVE_BAD_DATA")
    assert f"s3://{BUCKET}/raw/dt={DAY2}/hour=23/broken.gz" in failed["Status"]["StateChangeReason"]
