"""Tables through the Glue Data Catalog and the S3 objects a query reads from them.

`GlueCatalog` reads table definitions (`get_table`, `get_partitions`) and registers what CTAS
creates. `find_objects` turns a table plus the query's pruning predicates into the S3
objects to read: from the table's partition projection, from its registered Glue partitions, or
from its location; everything below a (partition) location is read, sub-folders included, except
what Athena ignores (keys whose file or folder name starts with `_` or `.`, folder markers and
empty objects).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from localcloud.athena.projection import Projection, projection_of, split_s3_uri
from localcloud.athena.pruning import PartitionFilter

PSEUDO_COLUMNS = {
    "$path": "VARCHAR",
    "$file_size": "BIGINT",
    "$file_modified_time": "TIMESTAMP WITH TIME ZONE",
}
JSON_SERDES = ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe")
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


class CatalogError(Exception):
    """A query-level failure while resolving a table (`code: message`, as Athena reports it)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class TableInfo:
    """What the local Athena needs to know about one Glue table."""

    database: str
    name: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...] = ()
    location: str = ""
    data_format: str = ""  # "json", "parquet", "view" or the SerDe it does not read
    serde_parameters: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"awsdatacatalog.{self.database}.{self.name}"

    def projection(self) -> Projection | None:
        return projection_of(
            f"{self.database}.{self.name}",
            self.parameters,
            [column.name for column in self.partition_keys],
            self.location,
        )


def table_from_glue(database: str, table: dict[str, Any]) -> TableInfo:
    """A TableInfo from a Glue `Table` structure."""
    descriptor = table.get("StorageDescriptor") or {}
    columns = tuple(
        Column(column["Name"].lower(), column.get("Type", "string"))
        for column in descriptor.get("Columns", [])
    )
    partition_keys = tuple(
        Column(column["Name"].lower(), column.get("Type", "string"))
        for column in table.get("PartitionKeys", [])
    )
    serde = descriptor.get("SerdeInfo") or {}
    library = serde.get("SerializationLibrary", "") or ""
    input_format = descriptor.get("InputFormat", "") or ""
    parameters = {str(k): str(v) for k, v in (table.get("Parameters") or {}).items()}
    classification = parameters.get("classification", "").lower()
    if table.get("TableType") == "VIRTUAL_VIEW":
        data_format = "view"
    elif library in JSON_SERDES or (not library and classification == "json"):
        data_format = "json"
    elif (
        library == PARQUET_SERDE or "parquet" in input_format.lower() or classification == "parquet"
    ):
        data_format = "parquet"
    else:
        data_format = library or input_format or classification or "unknown"
    return TableInfo(
        database=database,
        name=table["Name"].lower(),
        columns=columns,
        partition_keys=partition_keys,
        location=descriptor.get("Location", "") or "",
        data_format=data_format,
        serde_parameters={str(k): str(v) for k, v in (serde.get("Parameters") or {}).items()},
        parameters=parameters,
    )


class GlueCatalog:
    """Glue Data Catalog access for the local Athena (a boto3 glue client)."""

    def __init__(self, glue: Any) -> None:
        self.glue = glue

    def get_table(self, database: str, name: str) -> TableInfo:
        try:
            response = self.glue.get_table(DatabaseName=database, Name=name)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code == "EntityNotFoundException":
                if not self.database_exists(database):
                    raise CatalogError(
                        f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist"
                    ) from err
                raise CatalogError(
                    f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist"
                ) from err
            raise CatalogError(f"HIVE_METASTORE_ERROR: {err}") from err
        return table_from_glue(database, response["Table"])

    def table_exists(self, database: str, name: str) -> bool:
        try:
            self.glue.get_table(DatabaseName=database, Name=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return False
            raise
        return True

    def database_exists(self, database: str) -> bool:
        try:
            self.glue.get_database(Name=database)
        except ClientError:
            return False
        return True

    def partitions(self, table: TableInfo) -> list[tuple[list[str], str]]:
        """Registered partitions as (values, location)."""
        found: list[tuple[list[str], str]] = []
        paginator = self.glue.get_paginator("get_partitions")
        for page in paginator.paginate(DatabaseName=table.database, TableName=table.name):
            for partition in page.get("Partitions", []):
                location = (partition.get("StorageDescriptor") or {}).get("Location", "")
                found.append((list(partition.get("Values", [])), location))
        return found

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        self.glue.create_table(DatabaseName=database, TableInput=table_input)

    def add_partitions(
        self,
        database: str,
        name: str,
        descriptor: dict[str, Any],
        partitions: list[tuple[list[str], str]],
    ) -> None:
        """Register partitions given as (values, location)."""
        for start in range(0, len(partitions), 100):
            inputs = [
                {"Values": values, "StorageDescriptor": {**descriptor, "Location": location}}
                for values, location in partitions[start : start + 100]
            ]
            self.glue.batch_create_partition(
                DatabaseName=database, TableName=name, PartitionInputList=inputs
            )


@dataclass(frozen=True)
class DataObject:
    """One S3 object a query reads, with the partition values it belongs to (raw strings)."""

    bucket: str
    key: str
    size: int
    last_modified: dt.datetime
    partition: dict[str, str]
    etag: str = ""

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _hidden(relative: str) -> bool:
    """Athena skips files and folders whose name starts with `_` or `.` and folder markers."""
    if relative == "" or relative.endswith("/") or relative.endswith("_$folder$"):
        return True
    return any(part.startswith(("_", ".")) for part in relative.split("/") if part)


def _list(s3: Any, bucket: str, prefix: str) -> Iterable[dict[str, Any]]:
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        raise CatalogError(
            f"HIVE_FILESYSTEM_ERROR: cannot list s3://{bucket}/{prefix}: {code or err}"
        ) from err


def _folder(prefix: str) -> str:
    return prefix if (prefix == "" or prefix.endswith("/")) else prefix + "/"


def typed_partition_value(hive_type: str, raw: str) -> object:
    """A partition value as the pruner compares it: int, date or the string itself."""
    base = hive_type.lower().split("(")[0].strip()
    try:
        if base in ("int", "integer", "bigint", "smallint", "tinyint"):
            return int(raw)
        if base == "date":
            return dt.date.fromisoformat(raw)
    except ValueError:
        return raw
    return raw


def find_objects(
    s3: Any,
    catalog: GlueCatalog,
    table: TableInfo,
    prune: PartitionFilter,
    now: dt.datetime | None = None,
) -> list[DataObject]:
    """The S3 objects a reference to `table` reads, after partition and `"$path"` pruning."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    types = {column.name: column.type for column in table.partition_keys}

    def keep_partition(values: dict[str, str]) -> bool:
        return all(
            prune.accepts(column, typed_partition_value(types[column], raw))
            for column, raw in values.items()
        )

    paths = prune.equality_values("$path")
    wanted_uris = {str(path) for path in paths} if paths is not None else None
    found: list[DataObject] = []
    projection = table.projection()
    if projection is not None:
        found = _projected_objects(s3, projection, types, prune, wanted_uris, now)
    elif table.partition_keys:
        for values, location in catalog.partitions(table):
            if len(values) != len(table.partition_keys):
                continue
            named = {
                column.name: value
                for column, value in zip(table.partition_keys, values, strict=True)
            }
            if keep_partition(named):
                found.extend(_objects_under(s3, location, named, wanted_uris))
    else:
        found = _objects_under(s3, table.location, {}, wanted_uris)
    return [obj for obj in found if prune.accepts("$path", obj.uri)]


def _objects_under(
    s3: Any, location: str, partition: dict[str, str], wanted_uris: set[str] | None
) -> list[DataObject]:
    bucket, prefix = split_s3_uri(location)
    prefix = _folder(prefix)
    prefixes = [prefix]
    if wanted_uris is not None:
        parents = set()
        for uri in wanted_uris:
            uri_bucket, key = split_s3_uri(uri) if uri.startswith("s3://") else ("", "")
            if uri_bucket == bucket and key.startswith(prefix):
                parents.add(key.rsplit("/", 1)[0] + "/" if "/" in key else "")
        prefixes = sorted(parents)
    found = []
    for listed_prefix in prefixes:
        for item in _list(s3, bucket, listed_prefix):
            key = item["Key"]
            if _hidden(key[len(prefix) :]) or item.get("Size", 0) == 0:
                continue
            obj = DataObject(
                bucket,
                key,
                item["Size"],
                item["LastModified"],
                dict(partition),
                item.get("ETag", ""),
            )
            if wanted_uris is None or obj.uri in wanted_uris:
                found.append(obj)
    return found


def _projected_objects(
    s3: Any,
    projection: Projection,
    types: dict[str, str],
    prune: PartitionFilter,
    wanted_uris: set[str] | None,
    now: dt.datetime,
) -> list[DataObject]:
    candidates = {
        column: spec.candidates(
            lambda raw, column=column: prune.accepts(
                column, typed_partition_value(types.get(column, "string"), raw)
            ),
            now,
        )
        # an unconstrained column is listed, not enumerated
        if prune.constrains(column)
        else None
        for column, spec in projection.columns.items()
    }
    if wanted_uris is not None:
        prefixes = sorted(
            {
                key.rsplit("/", 1)[0] + "/"
                for bucket, key in (split_s3_uri(uri) for uri in wanted_uris if "://" in uri)
                if bucket == projection.bucket and "/" in key
            }
        )
    else:
        prefixes = projection.prefixes(candidates)
    found: list[DataObject] = []
    seen: set[str] = set()
    for prefix in prefixes:
        for item in _list(s3, projection.bucket, prefix):
            key = item["Key"]
            if key in seen:
                continue
            seen.add(key)
            matched = projection.match(key, now)
            if matched is None:
                continue
            values, rest = matched
            if _hidden(rest) or item.get("Size", 0) == 0:
                continue
            if not all(
                prune.accepts(column, typed_partition_value(types.get(column, "string"), raw))
                for column, raw in values.items()
            ):
                continue
            found.append(
                DataObject(
                    projection.bucket,
                    key,
                    item["Size"],
                    item["LastModified"],
                    values,
                    item.get("ETag", ""),
                )
            )
    if wanted_uris is not None:
        found = [obj for obj in found if obj.uri in wanted_uris]
    return found
