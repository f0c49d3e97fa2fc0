"""Running one Athena statement: resolve tables through Glue, stage S3 objects, execute in DuckDB.

For every table a query reads, the engine finds the S3 objects after partition and `"$path"`
pruning (`athena.catalog.find_objects`), stages them into a per-query temporary directory
(`athena.staging`: DuckDB's httpfs extension is not available here), and defines a DuckDB view
for the reference: JSON SerDe tables through `read_json` with the Glue columns, Parquet tables
through `read_parquet` with columns matched by name; partition columns and the `"$path"`,
`"$file_size"` and `"$file_modified_time"` pseudo-columns come from a table of staged files.
Bytes scanned is the total size of the objects read.

CTAS writes Parquet with DuckDB `COPY ... TO` (hive-style partition folders for
`partitioned_by`), uploads the files under `external_location` and registers the table (and its
partitions) in Glue.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from botocore.exceptions import ClientError
from sqlglot import exp

from localcloud.athena.catalog import (
    PARQUET_INPUT,
    PARQUET_OUTPUT,
    PARQUET_SERDE,
    PSEUDO_COLUMNS,
    CatalogError,
    DataObject,
    GlueCatalog,
    TableInfo,
    find_objects,
)
from localcloud.athena.projection import ProjectionError, split_s3_uri
from localcloud.athena.pruning import PartitionFilter, filter_for
from localcloud.athena.sql import (
    DUCKDB_SETUP,
    CtasProperties,
    QueryError,
    Statement,
    name_unnamed_columns,
    output_name,
    parse_statement,
    qualified_name,
    quote,
    string_literal,
    table_references,
    to_duckdb,
)
from localcloud.athena.staging import DEFAULT_CACHE_BYTES, ObjectCache
from localcloud.athena.types import (
    ResultColumn,
    UnsupportedTypeError,
    duckdb_type,
    hive_type,
    render,
    storage_cast,
)

MAX_CTAS_PARTITIONS = 100
_COMPRESSION = {
    "GZIP": "gzip",
    "SNAPPY": "snappy",
    "ZSTD": "zstd",
    "LZ4": "lz4_raw",
    "NONE": "uncompressed",
    "UNCOMPRESSED": "uncompressed",
}


class QueryCancelled(Exception):
    """The query was stopped (StopQueryExecution) while it ran."""


class CancelToken:
    """Lets another thread stop a running query: sets a flag and interrupts DuckDB.

    DuckDB's `interrupt()` stops only a statement that is executing at that moment; one that
    starts a moment later runs to its end. So once cancelled, the token keeps interrupting the
    attached connection every `INTERRUPT_EVERY` seconds until the engine detaches it."""

    INTERRUPT_EVERY = 0.05

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._interrupter: threading.Thread | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            self._start_interrupting()

    def attach(self, connection: duckdb.DuckDBPyConnection | None) -> None:
        with self._lock:
            self._connection = connection
            if self._event.is_set():
                self._start_interrupting()

    def _start_interrupting(self) -> None:
        """With the lock held: a thread interrupting the connection until it is detached."""
        if self._connection is None or self._interrupter is not None:
            return
        self._interrupter = threading.Thread(
            target=self._interrupt_until_detached, name="athena-cancel", daemon=True
        )
        self._interrupter.start()

    def _interrupt_until_detached(self) -> None:
        while True:
            with self._lock:
                if self._connection is None:
                    self._interrupter = None
                    return
                self._connection.interrupt()
            time.sleep(self.INTERRUPT_EVERY)

    def check(self) -> None:
        if self._event.is_set():
            raise QueryCancelled


@dataclass(frozen=True)
class QueryRequest:
    """What the service hands to the engine for one query execution."""

    query_id: str
    sql: str
    database: str = "default"
    output_location: str = ""  # s3://bucket/prefix/ (the folder of the result files)
    bytes_cutoff: int | None = None
    workgroup: str = "primary"


@dataclass
class QueryOutcome:
    """The result of one statement."""

    statement_type: str
    substatement_type: str
    columns: list[ResultColumn] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    update_count: int | None = None
    data_scanned: int = 0
    engine_millis: int = 0
    result_extension: str = "txt"


@dataclass
class _Scan:
    view: str
    table: TableInfo
    objects: list[DataObject]


class QueryEngine:
    """Runs statements against Glue + S3 (boto3 clients) with DuckDB."""

    def __init__(
        self,
        s3: Any,
        glue: Any,
        work_dir: Path,
        *,
        duckdb_threads: int = 2,
        download_workers: int = 8,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.s3 = s3
        self.catalog = GlueCatalog(glue)
        self.work_dir = work_dir
        self.cache = ObjectCache(s3, work_dir / "cache", cache_bytes)
        self.duckdb_threads = duckdb_threads
        self.download_workers = download_workers
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    def run(self, request: QueryRequest, cancel: CancelToken | None = None) -> QueryOutcome:
        """Run one statement; raise QueryError (a FAILED query) or QueryCancelled."""
        cancel = cancel or CancelToken()
        started = time.monotonic()
        statement = parse_statement(request.sql)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="query-", dir=self.work_dir) as tmp:
            connection = duckdb.connect(
                ":memory:", config={"threads": self.duckdb_threads, "temp_directory": tmp}
            )
            session = _Session(self, request, connection, Path(tmp), cancel)
            try:
                for setup in DUCKDB_SETUP:
                    connection.execute(setup)
                cancel.attach(connection)
                outcome = session.run(statement)
            except duckdb.InterruptException as err:
                raise QueryCancelled from err
            except duckdb.Error as err:
                if cancel.cancelled:
                    raise QueryCancelled from err
                raise QueryError(_duckdb_reason(err, session.local_to_uri)) from err
            except (CatalogError, ProjectionError) as err:
                raise QueryError(str(err)) from err
            finally:
                cancel.attach(None)
                connection.close()
        outcome.engine_millis = int((time.monotonic() - started) * 1000)
        return outcome


_DUCKDB_CODES: tuple[tuple[type[duckdb.Error], str], ...] = (
    (duckdb.ParserException, "SYNTAX_ERROR"),
    (duckdb.CatalogException, "FUNCTION_NOT_FOUND"),
    (duckdb.BinderException, "COLUMN_NOT_FOUND"),
    (duckdb.ConversionException, "INVALID_CAST_ARGUMENT"),
    (duckdb.OutOfRangeException, "NUMERIC_VALUE_OUT_OF_RANGE"),
    (duckdb.InvalidInputException, "INVALID_FUNCTION_ARGUMENT"),
    (duckdb.IOException, "HIVE_CANNOT_OPEN_SPLIT"),
    (duckdb.OutOfMemoryException, "EXCEEDED_LOCAL_MEMORY_LIMIT"),
)


def _duckdb_reason(err: duckdb.Error, local_to_uri: dict[str, str]) -> str:
    """A DuckDB error as an Athena-style reason, with staged file names turned back into S3."""
    message = str(err).strip()
    for local, uri in local_to_uri.items():
        message = message.replace(local, uri)
    message = re.sub(r"__athena_t\d+", "table", message)
    first = message.splitlines()[0] if message else type(err).__name__
    first = re.sub(r"^[A-Za-z ]+ Error: ", "", first)
    code = "GENERIC_USER_ERROR"
    for kind, name in _DUCKDB_CODES:
        if isinstance(err, kind):
            code = name
            break
    if isinstance(err, duckdb.BinderException) and "No function matches" in first:
        code = "FUNCTION_NOT_FOUND"
    elif isinstance(err, duckdb.BinderException) and "column" not in first.lower():
        code = "TYPE_MISMATCH"
    elif isinstance(err, duckdb.CatalogException) and "Function" not in first:
        code = "TABLE_NOT_FOUND"
    elif "JSON" in first:
        code = "HIVE_BAD_DATA"
    elif "Division by zero" in first:
        code = "DIVISION_BY_ZERO"
    return f"{code}: {first} (local Athena engine: DuckDB)"


class _Session:
    """The state of one statement's execution."""

    def __init__(
        self,
        engine: QueryEngine,
        request: QueryRequest,
        connection: duckdb.DuckDBPyConnection,
        tmp: Path,
        cancel: CancelToken,
    ) -> None:
        self.engine = engine
        self.catalog = engine.catalog
        self.request = request
        self.connection = connection
        self.tmp = tmp
        self.cancel = cancel
        self.scans: list[_Scan] = []
        self.local_to_uri: dict[str, str] = {}
        self.staged: dict[str, Path] = {}

    # --- dispatch -----------------------------------------------------------------------------
    def run(self, statement: Statement) -> QueryOutcome:
        handlers = {
            "SELECT": self._select,
            "CTAS": self._ctas,
        }
        return handlers[statement.kind](statement)

    def _outcome(self, statement: Statement, **kwargs: Any) -> QueryOutcome:
        return QueryOutcome(statement.statement_type, statement.substatement_type, **kwargs)

    # --- resolving tables ---------------------------------------------------------------------
    def resolve(self, query: exp.Expression, database: str) -> None:
        """Replace every table reference by a DuckDB view."""
        for table in table_references(query):
            db, name = qualified_name(table, database)
            info = self.catalog.get_table(db, name)
            alias = table.alias_or_name
            if info.data_format not in ("json", "parquet"):
                raise QueryError(
                    f"HIVE_UNSUPPORTED_FORMAT: table {info.qualified} uses {info.data_format}; "
                    f"the local Athena endpoint reads JSON SerDe and Parquet tables"
                )
            prune = filter_for(
                table, [column.name for column in info.partition_keys] + list(PSEUDO_COLUMNS)
            )
            objects = self._find(info, prune)
            view = f"__athena_t{len(self.scans) + 1}"
            self.scans.append(_Scan(view, info, objects))
            table.set("this", exp.to_identifier(view))
            table.set("db", None)
            table.set("catalog", None)
            if not table.args.get("alias"):
                table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))

    def _find(self, info: TableInfo, prune: PartitionFilter) -> list[DataObject]:
        self.cancel.check()
        return find_objects(self.engine.s3, self.catalog, info, prune, self.engine.clock())

    @property
    def scanned(self) -> int:
        return sum(obj.size for scan in self.scans for obj in scan.objects)

    def prepare(self, query: exp.Expression) -> str:
        """Resolve, check the cutoff, stage the data, define the views; the DuckDB SQL."""
        self.resolve(query, self.request.database)
        pseudo = {
            column.name for column in query.find_all(exp.Column) if column.name in PSEUDO_COLUMNS
        }
        if pseudo:
            _hide_pseudo_columns(query, {scan.view for scan in self.scans})
        cutoff = self.request.bytes_cutoff
        if cutoff is not None and self.scanned > cutoff:
            raise _CutoffExceeded(self.scanned, cutoff)
        self._stage()
        for number, scan in enumerate(self.scans, start=1):
            self._define_view(number, scan, bool(pseudo))
        return to_duckdb(query)

    def _stage(self) -> None:
        unique = {obj.uri: obj for scan in self.scans for obj in scan.objects}
        folder = self.tmp / "objects"
        targets = {}
        folder.mkdir()
        for number, (uri, obj) in enumerate(sorted(unique.items())):
            # the object's own name last: DuckDB detects compression from the extension
            path = folder / f"{number:06d}-{obj.key.rsplit('/', 1)[-1][-120:]}"
            targets[uri] = path
            self.local_to_uri[str(path)] = uri

        def download(uri: str) -> None:
            self.cancel.check()
            obj = unique[uri]
            try:
                self.engine.cache.stage(obj.bucket, obj.key, obj.etag, obj.size, targets[uri])
            except ClientError as err:
                raise QueryError(
                    f"HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split {uri}: "
                    f"{err.response.get('Error', {}).get('Code', err)}"
                ) from err

        if targets:
            workers = min(self.engine.download_workers, len(targets))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(download, sorted(targets)))
        self.cancel.check()
        self.staged = targets

    def _define_view(self, number: int, scan: _Scan, pseudo: bool) -> None:
        table = scan.table
        try:
            data_types = [(column.name, duckdb_type(column.type)) for column in table.columns]
            part_types = [
                (column.name, duckdb_type(column.type)) for column in table.partition_keys
            ]
        except UnsupportedTypeError as err:
            raise QueryError(f"NOT_SUPPORTED: table {table.qualified}: {err}") from err
        pseudo_types = list(PSEUDO_COLUMNS.items()) if pseudo else []
        if not scan.objects:
            nulls = [
                f"CAST(NULL AS {type_}) AS {quote(name)}"
                for name, type_ in data_types + part_types + pseudo_types
            ]
            self.connection.execute(
                f"CREATE TEMP VIEW {scan.view} AS SELECT {', '.join(nulls) or '1'} WHERE false"
            )
            return
        files = f"__athena_f{number}"
        part_names = [name for name, _ in part_types]
        names = ["file", "$path", "$file_size", "$file_modified_time", *part_names]
        values = ",\n".join(
            "("
            + ", ".join(
                [
                    string_literal(str(self.staged[obj.uri])),
                    string_literal(obj.uri),
                    f"CAST({int(obj.size)} AS BIGINT)",
                    f"TIMESTAMPTZ {string_literal(obj.last_modified.isoformat())}",
                    *[_nullable_literal(obj.partition.get(name)) for name in part_names],
                ]
            )
            + ")"
            for obj in scan.objects
        )
        self.connection.execute(
            f"CREATE TEMP TABLE {files} AS SELECT * FROM (VALUES {values}) "
            f"AS v({', '.join(quote(name) for name in names)})"
        )
        paths = "[" + ", ".join(string_literal(str(self.staged[o.uri])) for o in scan.objects) + "]"
        source, selected = self._data_source(table, paths, data_types)
        columns = selected + [
            f"CAST(f.{quote(name)} AS {type_}) AS {quote(name)}" for name, type_ in part_types
        ]
        columns += [f"f.{quote(name)}" for name, _ in pseudo_types]
        self.connection.execute(
            f"CREATE TEMP VIEW {scan.view} AS SELECT {', '.join(columns)} "
            f"FROM {source} AS d JOIN {files} AS f ON d.__athena_file = f.file"
        )

    def _data_source(
        self, table: TableInfo, paths: str, data_types: list[tuple[str, str]]
    ) -> tuple[str, list[str]]:
        if table.data_format == "json":
            mapping = {
                key.lower()[len("mapping.") :]: value
                for key, value in table.serde_parameters.items()
                if key.lower().startswith("mapping.")
            }
            keys = [(mapping.get(name, name), name, type_) for name, type_ in data_types]
            struct = ", ".join(f"{string_literal(key)}: {string_literal(t)}" for key, _, t in keys)
            ignore = table.serde_parameters.get("ignore.malformed.json", "").lower() == "true"
            source = (
                f"read_json({paths}, format='newline_delimited', columns={{{struct}}}, "
                f"filename='__athena_file', hive_partitioning=false, "
                f"ignore_errors={'true' if ignore else 'false'})"
            )
            return source, [f"d.{quote(key)} AS {quote(name)}" for key, name, _ in keys]
        source = (
            f"read_parquet({paths}, union_by_name=true, filename='__athena_file', "
            f"hive_partitioning=false)"
        )
        present = {
            str(row[0]).lower(): str(row[0])
            for row in self.connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        }
        selected = [
            f"CAST(d.{quote(present[name])} AS {type_}) AS {quote(name)}"
            if name in present
            else f"CAST(NULL AS {type_}) AS {quote(name)}"
            for name, type_ in data_types
        ]
        return source, selected

    # --- statements ---------------------------------------------------------------------------
    def _select(self, statement: Statement) -> QueryOutcome:
        assert statement.query is not None
        query = statement.query.copy()
        name_unnamed_columns(query)
        sql = self.prepare(query)
        self.cancel.check()
        relation = self.connection.sql(sql)
        columns = [
            ResultColumn.of(output_name(name, position), type_)
            for position, (name, type_) in enumerate(
                zip(relation.columns, relation.types, strict=True)
            )
        ]
        rows = [[render(value) for value in row] for row in relation.fetchall()]
        return self._outcome(
            statement,
            columns=columns,
            rows=rows,
            data_scanned=self.scanned,
            result_extension="csv",
        )

    def _ctas(self, statement: Statement) -> QueryOutcome:
        assert statement.query is not None
        assert statement.target is not None
        assert statement.ctas is not None
        properties = statement.ctas
        database, name = qualified_name(statement.target, self.request.database)
        if not self.catalog.database_exists(database):
            raise QueryError(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist")
        if self.catalog.table_exists(database, name):
            if statement.if_exists:
                return self._outcome(statement, update_count=0)
            raise QueryError(
                f"TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.{database}.{name}' already exists"
            )
        location = self._ctas_location(properties, f"{database}.{name}")
        query = statement.query.copy()
        unnamed = name_unnamed_columns(query)
        if unnamed:
            raise QueryError(f"Column name not specified at position {unnamed[0] + 1}")
        written = self.tmp / "ctas"
        rows_written, names, hive = self._write_parquet(self.prepare(query), properties, written)
        files = sorted(path for path in written.rglob("*") if path.is_file())
        partitions = sorted({path.parent.relative_to(written) for path in files} - {Path()})
        if len(partitions) > MAX_CTAS_PARTITIONS:
            raise QueryError(
                f"HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of {MAX_CTAS_PARTITIONS} open "
                f"writers for partitions/buckets"
            )
        bucket, prefix = split_s3_uri(location)
        for path in files if rows_written else []:
            self.cancel.check()
            self.engine.s3.upload_file(
                str(path), bucket, prefix + path.relative_to(written).as_posix()
            )
        self._register_ctas(database, name, location, names, hive, properties)
        if properties.partitioned_by and rows_written:
            self.catalog.add_partitions(
                database,
                name,
                _parquet_descriptor(location, []),
                [
                    (_partition_values(partition), f"{location}{partition.as_posix()}/")
                    for partition in partitions
                ],
            )
        return self._outcome(statement, update_count=rows_written, data_scanned=self.scanned)

    def _ctas_location(self, properties: CtasProperties, table: str) -> str:
        """The table location, which must hold no objects yet (Athena never overwrites)."""
        location = properties.external_location or (
            f"{self.request.output_location}tables/{self.request.query_id}/"
        )
        location = location if location.endswith("/") else location + "/"
        bucket, prefix = split_s3_uri(location)
        if _has_objects(self.engine.s3, bucket, prefix):
            raise QueryError(
                f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{table}' already "
                f"exists: {location}. You may need to manually clean the data at location "
                f"'{location}' before retrying. Athena will not delete data in your account."
            )
        return location

    def _write_parquet(
        self, sql: str, properties: CtasProperties, written: Path
    ) -> tuple[int, list[str], list[str]]:
        """COPY the query to Parquet files under `written`: (rows, column names, Hive types)."""
        relation = self.connection.sql(sql)
        names = [column.lower() for column in relation.columns]
        types = list(relation.types)
        _check_ctas_columns(names, properties.partitioned_by)
        try:
            hive = [hive_type(type_) for type_ in types]
        except UnsupportedTypeError as err:
            raise QueryError(f"NOT_SUPPORTED: {err}") from err
        casts = []
        for column, original, type_ in zip(names, relation.columns, types, strict=True):
            target = storage_cast(type_)
            value = f"q.{quote(original)}"
            casts.append(f"{f'CAST({value} AS {target})' if target else value} AS {quote(column)}")
        written.mkdir()
        options = f"FORMAT PARQUET, COMPRESSION {_COMPRESSION[properties.compression]}"
        select = f"SELECT {', '.join(casts)} FROM ({sql}) AS q"
        destination = written
        if properties.partitioned_by:
            columns = ", ".join(quote(column) for column in properties.partitioned_by)
            pattern = string_literal(self.request.query_id + "_{i}")
            options += f", PARTITION_BY ({columns}), FILENAME_PATTERN {pattern}"
        else:
            destination = written / f"{self.request.query_id}_0.parquet"
        self.cancel.check()
        result = self.connection.execute(
            f"COPY ({select}) TO {string_literal(str(destination))} ({options})"
        ).fetchall()
        return (int(result[0][0]) if result else 0), names, hive

    def _register_ctas(
        self,
        database: str,
        name: str,
        location: str,
        names: list[str],
        hive: list[str],
        properties: CtasProperties,
    ) -> None:
        types = dict(zip(names, hive, strict=True))
        partitioned_by = properties.partitioned_by
        data = [(column, types[column]) for column in names if column not in partitioned_by]
        self.catalog.create_table(
            database,
            {
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": "parquet",
                    "has_encrypted_data": "false",
                    "parquet.compression": properties.compression,
                },
                "StorageDescriptor": _parquet_descriptor(location, data),
                "PartitionKeys": [
                    {"Name": column, "Type": types[column]} for column in partitioned_by
                ],
            },
        )


class _CutoffExceeded(QueryError):
    def __init__(self, scanned: int, cutoff: int) -> None:
        super().__init__(
            f"Bytes scanned limit was exceeded: the query reads {scanned} bytes, more than "
            f"the workgroup's BytesScannedCutoffPerQuery of {cutoff} bytes"
        )
        self.scanned = scanned
        self.cutoff = cutoff


def _hide_pseudo_columns(query: exp.Expression, views: set[str]) -> None:
    """`SELECT *` over a table leaves out its pseudo-columns, as in Athena."""
    hidden = [exp.column(exp.to_identifier(name, quoted=True)) for name in PSEUDO_COLUMNS]
    for select in query.find_all(exp.Select):
        sources = [select.args.get("from_") or select.args.get("from")]
        sources += list(select.args.get("joins") or [])
        aliases = {
            source.this.alias_or_name
            for source in sources
            if source is not None
            and isinstance(source.this, exp.Table)
            and source.this.name in views
        }
        if not aliases:
            continue
        for index, projection in enumerate(select.expressions):
            if isinstance(projection, exp.Star):
                select.expressions[index] = exp.Star(except_=[item.copy() for item in hidden])
            elif (
                isinstance(projection, exp.Column)
                and isinstance(projection.this, exp.Star)
                and projection.table in aliases
            ):
                projection.set("this", exp.Star(except_=[item.copy() for item in hidden]))


def _nullable_literal(value: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if value is None else string_literal(value)


def _check_ctas_columns(names: list[str], partitioned_by: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for column in names:
        if column in seen:
            raise QueryError(f"Column name '{column}' specified more than once")
        seen.add(column)
    if partitioned_by:
        missing = [column for column in partitioned_by if column not in names]
        if missing:
            raise QueryError(
                f"INVALID_TABLE_PROPERTY: Partition columns {missing} not present in the query"
            )
        if tuple(names[-len(partitioned_by) :]) != partitioned_by:
            raise QueryError(
                f"HIVE_COLUMN_ORDER_MISMATCH: Partition keys must be the last columns in the "
                f"table and in the same order as the table properties: {list(partitioned_by)}"
            )
        if len(partitioned_by) == len(names):
            raise QueryError("INVALID_TABLE_PROPERTY: a table needs at least one data column")


def _partition_values(partition: Path) -> list[str]:
    return [urllib.parse.unquote(part.split("=", 1)[1]) for part in partition.parts]


def _parquet_descriptor(location: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Columns": [{"Name": name, "Type": type_} for name, type_ in columns],
        "Location": location,
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": False,
        "SerdeInfo": {
            "SerializationLibrary": PARQUET_SERDE,
            "Parameters": {"serialization.format": "1"},
        },
    }


def _has_objects(s3: Any, bucket: str, prefix: str) -> bool:
    try:
        response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        raise QueryError(
            f"HIVE_FILESYSTEM_ERROR: cannot check s3://{bucket}/{prefix}: {code}"
        ) from err
    return bool(response.get("Contents"))
