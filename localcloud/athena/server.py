"""Athena: a local endpoint speaking the Athena API, backed by DuckDB, Glue and S3 in moto.

`AthenaServer` listens on 127.0.0.1 and answers the Athena JSON 1.1 protocol (`POST /` with
`X-Amz-Target: AmazonAthena.<Operation>`), so unchanged boto3 code (`boto3.client("athena")` with
`AWS_ENDPOINT_URL_ATHENA` pointing here) and the AWS CLI (`aws athena ... --endpoint-url`) work
against it. Run it on its own with `python -m localcloud.athena.server --port N`.

Operations
- Queries: StartQueryExecution (QueryExecutionContext.Database, WorkGroup,
  ResultConfiguration.OutputLocation, ClientRequestToken idempotency), GetQueryExecution,
  GetQueryResults (first row = column names, `ColumnInfo` with Athena types, at most 1000 rows per
  page with NextToken), StopQueryExecution, BatchGetQueryExecution, ListQueryExecutions.
- Workgroups: CreateWorkGroup, GetWorkGroup, UpdateWorkGroup; the
  configuration is kept and applied: the result location (enforced or as a default) and
  BytesScannedCutoffPerQuery (a query that would read more FAILS); EnforceWorkGroupConfiguration
  is false unless set. `primary` (no result location) always exists.
- Named queries: CreateNamedQuery, GetNamedQuery, ListNamedQueries (the stack's queries, as
  `aws athena list-named-queries` shows them).

Queries run asynchronously on worker threads (QUEUED -> RUNNING -> SUCCEEDED / FAILED /
CANCELLED); clients poll GetQueryExecution as with AWS. A failing query ends FAILED with a
StateChangeReason that says why (`TABLE_NOT_FOUND: ...`, `SYNTAX_ERROR: line 1:8: ...`); API
misuse gets a 400 `InvalidRequestException`. Results are written to
`<OutputLocation>/<QueryExecutionId>.csv` (`.txt` for DDL) in S3, as Athena does.

SQL
- Tables resolve through the Glue Data Catalog (moto): JSON SerDe tables (OpenX or HCatalog,
  GZIP objects by their `.gz` name, `ignore.malformed.json`, `mapping.*`) and Parquet tables;
  partition columns appear as columns; `"$path"`, `"$file_size"` and `"$file_modified_time"` are
  available and `SELECT *` leaves them out.
- Partitions come from partition projection (`projection.enabled`, types date / integer
  with range, format, interval, interval.unit, digits, and `storage.location.template`; enum and
  injected, which no table here uses, are refused) or, without projection, from the partitions
  registered in Glue.
  Equality, IN, BETWEEN, simple ranges and OR of those on partition columns prune partitions;
  `"$path" = / IN (...)` prunes objects before they are read. Everything below a partition
  location is read, sub-folders included; names starting with `_` or `.` are skipped.
- Athena (Trino) SQL is translated to DuckDB with sqlglot (CTEs, joins, window functions,
  aggregates, date functions; `format_datetime`/`parse_datetime` Java patterns; `_col<n>` names
  for unnamed columns; Trino integer division; session time zone UTC).
- CREATE TABLE AS SELECT writes Parquet (`format`, `write_compression` GZIP (default) / SNAPPY /
  ZSTD / LZ4 / NONE, `external_location`, `partitioned_by`), fails with HIVE_PATH_ALREADY_EXISTS
  when the location is not empty, registers the table (and its partitions) in Glue and reports
  UpdateCount. Without `external_location` the table goes to `<OutputLocation>tables/<query id>/`.
- In a workgroup that enforces its result location, a CTAS with `external_location` is refused
  by StartQueryExecution (InvalidRequestException), as Athena does.
- Other statements (views, DROP, CREATE DATABASE, INSERT INTO, MSCK, SHOW: nothing in the
  pipeline sends them) fail with NOT_SUPPORTED naming them; a query over a Glue view (TableType
  VIRTUAL_VIEW) fails with HIVE_UNSUPPORTED_FORMAT.
- Statistics.DataScannedInBytes is the total size of the S3 objects read.

IAM: a request signed by a role session (a local Lambda function's) needs `athena:<Operation>` on
`arn:aws:athena:<region>:<account>:workgroup/<name>` (the query's or named query's workgroup, else
the request's `WorkGroup`, else `primary`) in the role's identity policies; a denial is 400
`AccessDeniedException` with AWS's message (localcloud/core/iam.py).

Differences from AWS
- The query reads S3 and Glue, and writes its results, as the account, not with the caller's
  credentials: a role that may start a query but not read its table's data or catalog entry
  gets results here where Athena would fail the query. The signature is not verified.
- Bytes scanned counts whole objects: Athena reads only the columns (and row groups) it needs
  from Parquet, so it reports less for Parquet; for GZIP JSON both count the compressed object.
- The per-query cutoff is checked before the data is read: the query fails without reading
  anything, with DataScannedInBytes = the cutoff. `AthenaServer(min_bytes_cutoff=...)` can lower
  Athena's 10 MB minimum for BytesScannedCutoffPerQuery (tests use small data).
- Pruning looks at the WHERE clause of the SELECT that reads the table; conditions outside it
  (in an outer query over a CTE, in JOIN ... ON) do not prune, so such a query reports
  more bytes scanned than Athena would. Results are the same.
- Partition projection lists the longest S3 prefix the query pins down and matches keys against
  the template instead of probing every projected location; the objects read are the same.
- JSON keys are matched to columns case-sensitively (the OpenX SerDe ignores case by default).
- Functions sqlglot does not translate and DuckDB lacks fail with FUNCTION_NOT_FOUND;
  `at_timezone` returns the local wall-clock time without a zone; error messages come from DuckDB
  after Athena's error code.
- CTAS writes Parquet only (no ORC, Avro, JSON or text, no bucketing, no Iceberg); timestamps are
  written as INT64 microseconds (Athena writes INT96); files are named `<query id>_<n>.parquet`.
  A CTAS with zero rows writes no file. Without `external_location` (and without an enforced
  workgroup) the table goes to `<OutputLocation>tables/<query id>/`, not under
  `<Unsaved>/<yyyy>/<mm>/<dd>/`.
- INSERT INTO, MSCK REPAIR, ALTER, SHOW, DESCRIBE, EXPLAIN, CREATE EXTERNAL TABLE, prepared
  statements, information_schema, federated catalogs and Spark are not supported (the query
  FAILS saying so).
- Query history, results and workgroups live in memory: they are gone when the server stops.
  Result files are still in S3. No `.metadata` file is written next to the CSV.
- Objects read are downloaded and kept in a local cache keyed by ETag (`athena.staging`), since
  DuckDB cannot read S3 here; a query sees the objects as listed when it starts.
- No IAM, no encryption settings, no CloudWatch metrics, no capacity reservations or result
  reuse; requests are not authenticated.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3

from localcloud.athena.api import MIN_BYTES_CUTOFF, ApiError, AthenaService
from localcloud.athena.engine import QueryEngine
from localcloud.core.aws import arn
from localcloud.core.http import HttpService, Request, Response
from localcloud.core.iam import IamCheck, denial
from localcloud.core.service import serve_until_signalled

LOG = logging.getLogger("localcloud.athena")
TARGET_PREFIX = "AmazonAthena."
CONTENT_TYPE = "application/x-amz-json-1.1"


def _error(code: str, message: str, athena_code: str | None = None) -> dict[str, Any]:
    payload = {"__type": code, "Message": message}
    if athena_code:
        payload["AthenaErrorCode"] = athena_code
    return payload


def _reply(status: int, payload: dict[str, Any], request_id: str) -> Response:
    response = Response(json.dumps(payload, default=str), status, content_type=CONTENT_TYPE)
    response.headers["x-amzn-RequestId"] = request_id
    if status >= 400:
        response.headers["x-amzn-ErrorType"] = str(payload.get("__type", ""))
    return response


class AthenaServer(HttpService):
    """The local Athena endpoint on a loopback port; a context manager.

    S3 and Glue are reached through boto3 with the standard environment (`AWS_ENDPOINT_URL`,
    `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_GLUE`, credentials, region); `s3_endpoint` and
    `glue_endpoint` override it.
    """

    logger = LOG

    def __init__(
        self,
        port: int | None = None,
        *,
        s3_endpoint: str | None = None,
        glue_endpoint: str | None = None,
        work_dir: Path | None = None,
        max_concurrent_queries: int = 2,
        duckdb_threads: int = 2,
        min_bytes_cutoff: int = MIN_BYTES_CUTOFF,
    ) -> None:
        super().__init__(port)
        self._s3_endpoint = s3_endpoint
        self._glue_endpoint = glue_endpoint
        self._work_dir = work_dir
        self._own_work_dir = work_dir is None
        self._max_concurrent = max_concurrent_queries
        self._duckdb_threads = duckdb_threads
        self._min_bytes_cutoff = min_bytes_cutoff
        self.service: AthenaService | None = None
        self._iam = IamCheck()

    def env(self) -> dict[str, str]:
        """The variable that points boto3 and the AWS CLI at this endpoint."""
        return {"AWS_ENDPOINT_URL_ATHENA": self.endpoint}

    def start(self) -> AthenaServer:
        session = boto3.session.Session()
        s3 = session.client("s3", endpoint_url=self._s3_endpoint)
        glue = session.client("glue", endpoint_url=self._glue_endpoint)
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="localcloud-athena-"))
        engine = QueryEngine(s3, glue, self._work_dir, duckdb_threads=self._duckdb_threads)
        self.service = AthenaService(
            engine,
            s3,
            max_concurrent_queries=self._max_concurrent,
            min_bytes_cutoff=self._min_bytes_cutoff,
        )
        return super().start()

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return _reply(200, {"service": "athena (local)"}, "")
        request_id = str(uuid.uuid4())
        target = request.headers.get("X-Amz-Target", "")
        body = request.get_data()
        if not target.startswith(TARGET_PREFIX):
            return _reply(
                400, _error("UnknownOperationException", f"unknown target {target!r}"), ""
            )
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError("the request body is not a JSON object")
        except ValueError as err:
            return _reply(400, _error("InvalidRequestException", f"bad JSON: {err}"), request_id)
        operation = target[len(TARGET_PREFIX) :]
        assert self.service is not None
        try:
            self.authorize(request, operation, params)
            response = self.service.call(operation, params)
        except ApiError as err:
            return _reply(400, _error(err.code, err.message, err.athena_code), request_id)
        except Exception as err:
            LOG.exception("%s failed", operation)
            return _reply(500, _error("InternalServerException", str(err)), request_id)
        return _reply(200, response, request_id)

    def authorize(self, request: Request, operation: str, params: dict[str, Any]) -> None:
        """IAM: the caller's identity policies must allow `athena:<Operation>` on the workgroup
        (localcloud/core/iam.py)."""
        assert self.service is not None
        if operation == "CreateWorkGroup":
            workgroup = str(params.get("Name", ""))
        else:
            workgroup = self.service.workgroup_of(params)
        resource = arn("athena", f"workgroup/{workgroup}")
        verdict = self._iam.check(request.headers, f"athena:{operation}", resource)
        if verdict is None or verdict.allowed:
            return
        if verdict.unknown_key:
            raise ApiError(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        raise ApiError(
            "AccessDeniedException", denial(verdict.principal, f"athena:{operation}", resource)
        )

    def stop(self) -> None:
        super().stop()
        if self.service is not None:
            self.service.close()
            self.service = None
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.athena.server",
        description="Run the local Athena endpoint (S3 and Glue from the AWS_ENDPOINT_URL* "
        "environment) until interrupted.",
    )
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--max-concurrent-queries", type=int, default=2)
    parser.add_argument("--duckdb-threads", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = AthenaServer(
        args.port,
        work_dir=args.work_dir,
        max_concurrent_queries=args.max_concurrent_queries,
        duckdb_threads=args.duckdb_threads,
    )
    serve_until_signalled(server, "athena")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
