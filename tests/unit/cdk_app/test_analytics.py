from pathlib import Path

from tests.unit.cdk_app.support import only, resources_of

ROOT = Path(__file__).resolve().parents[3]


def table(template, name):
    (found,) = [
        t["Properties"]["TableInput"]
        for t in resources_of(template, "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == name
    ]
    return found


def location_template(params):
    value = params["storage.location.template"]
    sep, parts = value["Fn::Join"]
    return sep.join(p if isinstance(p, str) else "{bucket}" for p in parts)


def test_database(template):
    assert only(template, "AWS::Glue::Database")["Properties"]["DatabaseInput"]["Name"] == (
        "sensor_pipeline"
    )


def test_raw_table_projects_the_firehose_prefix(template):
    raw = table(template, "raw_readings")
    params = raw["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.hour.type"] == "integer"
    assert params["projection.hour.range"] == "0,23"
    assert params["projection.hour.digits"] == "2"
    # Same layout as Firehose's prefix raw/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/
    assert location_template(params) == "s3://{bucket}/raw/dt=${dt}/hour=${hour}/"
    assert [k["Name"] for k in raw["PartitionKeys"]] == ["dt", "hour"]
    serde = raw["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert "json" in serde.lower()
    columns = {c["Name"]: c["Type"] for c in raw["StorageDescriptor"]["Columns"]}
    assert columns["seq"] == "bigint" and columns["temperature"] == "double"
    assert columns["thing_name"] == "string" and columns["arrival_ms"] == "bigint"


def test_compacted_table_is_parquet_partitioned_by_date(template):
    compacted = table(template, "readings")
    assert [k["Name"] for k in compacted["PartitionKeys"]] == ["dt"]
    assert "parquet" in compacted["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].lower()
    assert location_template(compacted["Parameters"]) == "s3://{bucket}/compacted/dt=${dt}/"
    columns = {c["Name"]: c["Type"] for c in compacted["StorageDescriptor"]["Columns"]}
    assert columns["ts"] == "timestamp" and columns["humidity"] == "double"


def test_workgroup_enforces_result_location_and_scan_cutoff(make_template):
    template = make_template(athenaBytesScannedCutoffMiB=200)
    config = only(template, "AWS::Athena::WorkGroup")["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 200 * 1024 * 1024
    assert "OutputLocation" in config["ResultConfiguration"]


def test_every_sql_file_is_a_named_query(template):
    names = {
        q["Properties"]["Name"] for q in resources_of(template, "AWS::Athena::NamedQuery").values()
    }
    assert names == {p.stem for p in (ROOT / "athena").glob("*.sql")}
    assert names  # there is SQL to deploy
