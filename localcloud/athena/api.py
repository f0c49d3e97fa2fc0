"""The Athena API operations of the local Athena: query executions, workgroups, named queries.

`AthenaService.call(operation, params)` takes the JSON request of one Athena API operation and
returns its JSON response, or raises `ApiError` (the HTTP layer turns it into a 400 with
`__type`). Queries run on worker threads: StartQueryExecution returns at once with the query
QUEUED; a worker moves it to RUNNING and then SUCCEEDED, FAILED or CANCELLED, writes the result
CSV to `<OutputLocation>/<QueryExecutionId>.csv` (`.txt` for DDL) and keeps the rows in memory
for GetQueryResults.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.athena.engine import (
    CancelToken,
    QueryCancelled,
    QueryEngine,
    QueryOutcome,
    QueryRequest,
)
from localcloud.athena.projection import split_s3_uri
from localcloud.athena.sql import QueryError, parse_statement

LOG = logging.getLogger("localcloud.athena")

PRIMARY = "primary"
MAX_RESULTS_PER_PAGE = 1000
MAX_LIST_RESULTS = 50
MAX_QUERY_LENGTH = 262_144
MIN_BYTES_CUTOFF = 10_000_000  # the API minimum of BytesScannedCutoffPerQuery
ENGINE_VERSION = {
    "SelectedEngineVersion": "AUTO",
    "EffectiveEngineVersion": "Athena engine version 3",
}
_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class ApiError(Exception):
    """An API-level error: `code` is the `__type` (InvalidRequestException, ...)."""

    def __init__(self, code: str, message: str, athena_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.athena_code = athena_code


def _invalid(message: str, athena_code: str | None = None) -> ApiError:
    return ApiError("InvalidRequestException", message, athena_code)


@dataclass
class WorkGroup:
    name: str
    description: str = ""
    state: str = "ENABLED"
    configuration: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    @property
    def output_location(self) -> str | None:
        return (self.configuration.get("ResultConfiguration") or {}).get("OutputLocation")

    @property
    def enforce(self) -> bool:
        return bool(self.configuration.get("EnforceWorkGroupConfiguration", False))

    @property
    def cutoff(self) -> int | None:
        value = self.configuration.get("BytesScannedCutoffPerQuery")
        return int(value) if value is not None else None

    def describe(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "State": self.state,
            "Configuration": {
                "EnforceWorkGroupConfiguration": self.enforce,
                "PublishCloudWatchMetricsEnabled": False,
                "RequesterPaysEnabled": False,
                **self.configuration,
                "EngineVersion": ENGINE_VERSION,
            },
            "Description": self.description,
            "CreationTime": self.created,
        }


@dataclass
class Execution:
    """One query execution and, once finished, its outcome."""

    id: str
    query: str
    database: str
    catalog: str
    workgroup: str
    output_folder: str
    statement_type: str
    substatement_type: str | None
    result_extension: str
    client_token: str | None
    submitted: float = field(default_factory=time.time)
    state: str = "QUEUED"
    reason: str | None = None
    started: float | None = None
    completed: float | None = None
    outcome: QueryOutcome | None = None
    data_scanned: int = 0
    engine_millis: int = 0
    cancel: CancelToken = field(default_factory=CancelToken)

    @property
    def output_location(self) -> str:
        return f"{self.output_folder}{self.id}.{self.result_extension}"

    def describe(self) -> dict[str, Any]:
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.completed is not None:
            status["CompletionDateTime"] = self.completed
        if self.state == "FAILED" and self.reason:
            status["AthenaError"] = {
                "ErrorCategory": 2,
                "Retryable": False,
                "ErrorMessage": self.reason,
            }
        now = self.completed or time.time()
        queued_until = self.started or now
        statistics = {
            "EngineExecutionTimeInMillis": self.engine_millis,
            "DataScannedInBytes": self.data_scanned,
            "TotalExecutionTimeInMillis": int((now - self.submitted) * 1000),
            "QueryQueueTimeInMillis": int((queued_until - self.submitted) * 1000),
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        }
        described: dict[str, Any] = {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "Status": status,
            "Statistics": statistics,
            "WorkGroup": self.workgroup,
            "EngineVersion": ENGINE_VERSION,
        }
        if self.substatement_type:
            described["SubstatementType"] = self.substatement_type
        return described


@dataclass
class NamedQuery:
    id: str
    name: str
    database: str
    query: str
    description: str
    workgroup: str

    def describe(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Description": self.description,
            "Database": self.database,
            "QueryString": self.query,
            "NamedQueryId": self.id,
            "WorkGroup": self.workgroup,
        }


def _folder(location: str) -> str:
    return location if location.endswith("/") else location + "/"


def _csv_field(value: str | None) -> str:
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def results_csv(outcome: QueryOutcome) -> bytes:
    """The result file Athena writes for a SELECT: header and rows, every value quoted."""
    lines = [",".join(_csv_field(column.name) for column in outcome.columns)]
    lines += [",".join(_csv_field(value) for value in row) for row in outcome.rows]
    return ("\n".join(lines) + "\n").encode()


class AthenaService:
    """State and operations of the local Athena API."""

    def __init__(
        self,
        engine: QueryEngine,
        s3: Any,
        *,
        max_concurrent_queries: int = 2,
        min_bytes_cutoff: int = MIN_BYTES_CUTOFF,
    ) -> None:
        self.engine = engine
        self.s3 = s3
        self.min_bytes_cutoff = min_bytes_cutoff
        self._lock = threading.RLock()
        self._executions: dict[str, Execution] = {}
        self._order: list[str] = []
        self._tokens: dict[str, tuple[str, tuple[Any, ...]]] = {}
        self._workgroups: dict[str, WorkGroup] = {PRIMARY: WorkGroup(PRIMARY)}
        self._named: dict[str, NamedQuery] = {}
        self._named_tokens: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrent_queries, thread_name_prefix="athena-query"
        )
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "StartQueryExecution": self.start_query_execution,
            "GetQueryExecution": self.get_query_execution,
            "GetQueryResults": self.get_query_results,
            "StopQueryExecution": self.stop_query_execution,
            "BatchGetQueryExecution": self.batch_get_query_execution,
            "ListQueryExecutions": self.list_query_executions,
            "CreateWorkGroup": self.create_work_group,
            "GetWorkGroup": self.get_work_group,
            "UpdateWorkGroup": self.update_work_group,
            "CreateNamedQuery": self.create_named_query,
            "GetNamedQuery": self.get_named_query,
            "ListNamedQueries": self.list_named_queries,
        }

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self._operations.get(operation)
        if handler is None:
            raise _invalid(f"The local Athena endpoint does not implement {operation}")
        return handler(params)

    def close(self) -> None:
        """Cancel what is queued or running and wait for the workers to stop."""
        with self._lock:
            for execution in self._executions.values():
                if execution.state not in TERMINAL:
                    execution.cancel.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- query executions ---------------------------------------------------------------------
    def start_query_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        query = params.get("QueryString")
        if not isinstance(query, str) or not query.strip():
            raise _invalid("QueryString must not be empty")
        if len(query.encode()) > MAX_QUERY_LENGTH:
            raise _invalid(f"QueryString is longer than {MAX_QUERY_LENGTH} bytes")
        context = params.get("QueryExecutionContext") or {}
        database = str(context.get("Database") or "default").lower()
        catalog = str(context.get("Catalog") or "AwsDataCatalog")
        workgroup_name = str(params.get("WorkGroup") or PRIMARY)
        token = params.get("ClientRequestToken")
        if token is not None and not 32 <= len(str(token)) <= 128:
            raise _invalid("ClientRequestToken must be 32 to 128 characters long")
        requested_location = (params.get("ResultConfiguration") or {}).get("OutputLocation")
        with self._lock:
            workgroup = self._workgroup(workgroup_name)
            if workgroup.state != "ENABLED":
                raise _invalid(f"WorkGroup {workgroup_name} is disabled.")
            location = self._output_location(workgroup, requested_location)
            fingerprint = (query, database, catalog, workgroup_name, location)
            if token is not None and token in self._tokens:
                existing, previous = self._tokens[token]
                if previous != fingerprint:
                    raise _invalid("Idempotent parameters do not match")
                return {"QueryExecutionId": existing}
            statement_type, substatement, extension = _classify(query)
            if workgroup.enforce and workgroup.output_location and _has_external_location(query):
                raise _invalid(
                    "The Create Table As Select query failed because it was submitted with an "
                    "'external_location' property to an Athena Workgroup that enforces a "
                    "centralized output location for all queries. Please remove the "
                    "'external_location' property and resubmit the query."
                )
            execution = Execution(
                id=str(uuid.uuid4()),
                query=query,
                database=database,
                catalog=catalog,
                workgroup=workgroup_name,
                output_folder=location,
                statement_type=statement_type,
                substatement_type=substatement,
                result_extension=extension,
                client_token=token,
            )
            self._executions[execution.id] = execution
            self._order.append(execution.id)
            if token is not None:
                self._tokens[token] = (execution.id, fingerprint)
            cutoff = workgroup.cutoff
        self._pool.submit(self._run, execution, cutoff)
        return {"QueryExecutionId": execution.id}

    def _output_location(self, workgroup: WorkGroup, requested: str | None) -> str:
        if workgroup.enforce and workgroup.output_location:
            location = workgroup.output_location
        else:
            location = requested or workgroup.output_location
        if not location:
            raise _invalid(
                "No output location provided. An output location is required either through "
                "the Workgroup result configuration setting or as an API input."
            )
        if not location.startswith("s3://") or len(location) <= len("s3://"):
            raise _invalid(f"OutputLocation must be an s3:// URI, got {location!r}")
        return _folder(location)

    def _run(self, execution: Execution, cutoff: int | None) -> None:
        with self._lock:
            if execution.state != "QUEUED":
                return
            execution.state = "RUNNING"
            execution.started = time.time()
        request = QueryRequest(
            query_id=execution.id,
            sql=execution.query,
            database=execution.database,
            output_location=execution.output_folder,
            bytes_cutoff=cutoff,
            workgroup=execution.workgroup,
        )
        state, reason, outcome = "SUCCEEDED", None, None
        try:
            self._check_output_bucket(execution.output_folder)
            outcome = self.engine.run(request, execution.cancel)
            self._write_result(execution, outcome)
        except QueryCancelled:
            state, reason = "CANCELLED", "Query cancelled by user"
        except QueryError as err:
            state, reason = "FAILED", str(err)
            scanned = getattr(err, "cutoff", None)
            if scanned is not None:
                execution.data_scanned = int(scanned)
        except Exception as err:
            LOG.exception("query %s failed inside the local Athena", execution.id)
            state, reason = "FAILED", f"GENERIC_INTERNAL_ERROR: {type(err).__name__}: {err}"
        with self._lock:
            if execution.state in TERMINAL:
                return
            execution.state = state
            execution.reason = reason
            execution.completed = time.time()
            if outcome is not None:
                execution.outcome = outcome
                execution.data_scanned = outcome.data_scanned
                execution.engine_millis = outcome.engine_millis

    def _check_output_bucket(self, folder: str) -> None:
        bucket, _ = split_s3_uri(folder)
        try:
            self.s3.head_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as err:
            raise QueryError(f"Unable to verify/create output bucket {bucket}") from err

    def _write_result(self, execution: Execution, outcome: QueryOutcome) -> None:
        bucket, key = split_s3_uri(execution.output_location)
        body = results_csv(outcome) if outcome.result_extension == "csv" else b""
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as err:
            raise QueryError(
                f"Unable to write the query results to {execution.output_location}: {err}"
            ) from err

    def workgroup_of(self, params: dict[str, Any]) -> str:
        """The workgroup a request acts on (for IAM): that of its query execution or named
        query when it names a known one, else its `WorkGroup`, else `primary`."""
        with self._lock:
            execution = self._executions.get(str(params.get("QueryExecutionId")))
            if execution is not None:
                return execution.workgroup
            named = self._named.get(str(params.get("NamedQueryId")))
            if named is not None:
                return named.workgroup
        return str(params.get("WorkGroup") or PRIMARY)

    def _execution(self, query_id: Any) -> Execution:
        execution = self._executions.get(str(query_id))
        if execution is None:
            raise _invalid(f"QueryExecution {query_id} was not found", "INVALID_INPUT")
        return execution

    def get_query_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            execution = self._execution(params.get("QueryExecutionId"))
            return {"QueryExecution": execution.describe()}

    def get_query_results(self, params: dict[str, Any]) -> dict[str, Any]:
        max_results = int(params.get("MaxResults") or MAX_RESULTS_PER_PAGE)
        if not 1 <= max_results <= MAX_RESULTS_PER_PAGE:
            raise _invalid(f"MaxResults is more than maximum allowed length {MAX_RESULTS_PER_PAGE}")
        with self._lock:
            execution = self._execution(params.get("QueryExecutionId"))
            if execution.state == "FAILED":
                raise _invalid(execution.reason or "Query failed", "INVALID_INPUT")
            if execution.state == "CANCELLED":
                raise _invalid("Query was cancelled", "INVALID_INPUT")
            if execution.state != "SUCCEEDED" or execution.outcome is None:
                raise _invalid(
                    f"Query has not yet finished. Current state: {execution.state}",
                    "INVALID_INPUT",
                )
            outcome = execution.outcome
        rows: list[list[str | None]] = []
        if outcome.result_extension == "csv":
            rows = [[column.name for column in outcome.columns], *outcome.rows]
        start = _decode_token(params.get("NextToken"), execution.id, len(rows))
        page = rows[start : start + max_results]
        response: dict[str, Any] = {
            "ResultSet": {
                "Rows": [
                    {"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
                    for row in page
                ],
                "ResultSetMetadata": {
                    "ColumnInfo": [column.column_info() for column in outcome.columns]
                },
            },
        }
        if outcome.update_count is not None:
            response["UpdateCount"] = outcome.update_count
        if start + max_results < len(rows):
            response["NextToken"] = _encode_token(execution.id, start + max_results)
        return response

    def stop_query_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            execution = self._execution(params.get("QueryExecutionId"))
            if execution.state not in TERMINAL:
                execution.cancel.cancel()
                execution.state = "CANCELLED"
                execution.reason = "Query cancelled by user"
                execution.completed = time.time()
        return {}

    def batch_get_query_execution(self, params: dict[str, Any]) -> dict[str, Any]:
        ids = list(params.get("QueryExecutionIds") or [])
        if not 1 <= len(ids) <= MAX_LIST_RESULTS:
            raise _invalid(f"QueryExecutionIds must hold 1 to {MAX_LIST_RESULTS} ids")
        found, missing = [], []
        with self._lock:
            for query_id in ids:
                execution = self._executions.get(query_id)
                if execution is None:
                    missing.append(
                        {
                            "QueryExecutionId": query_id,
                            "ErrorCode": "INVALID_INPUT",
                            "ErrorMessage": f"QueryExecution {query_id} was not found",
                        }
                    )
                else:
                    found.append(execution.describe())
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def list_query_executions(self, params: dict[str, Any]) -> dict[str, Any]:
        workgroup = str(params.get("WorkGroup") or PRIMARY)
        with self._lock:
            self._workgroup(workgroup)
            ids = [
                query_id
                for query_id in reversed(self._order)
                if self._executions[query_id].workgroup == workgroup
            ]
        return _page(ids, params, "QueryExecutionIds", "executions")

    # --- workgroups ---------------------------------------------------------------------------
    def _workgroup(self, name: str) -> WorkGroup:
        workgroup = self._workgroups.get(name)
        if workgroup is None:
            raise _invalid(f"WorkGroup {name} is not found.")
        return workgroup

    def _check_configuration(self, configuration: dict[str, Any]) -> None:
        cutoff = configuration.get("BytesScannedCutoffPerQuery")
        if cutoff is not None and int(cutoff) < self.min_bytes_cutoff:
            raise _invalid(
                f"BytesScannedCutoffPerQuery must be at least {self.min_bytes_cutoff} bytes"
            )
        location = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
        if location is not None and not str(location).startswith("s3://"):
            raise _invalid(f"OutputLocation must be an s3:// URI, got {location!r}")

    def create_work_group(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("Name") or "")
        if not _NAME.match(name):
            raise _invalid(f"WorkGroup name {name!r} must match [a-zA-Z0-9._-]{{1,128}}")
        configuration = dict(params.get("Configuration") or {})
        self._check_configuration(configuration)
        with self._lock:
            if name in self._workgroups:
                raise _invalid("WorkGroup is already created")
            self._workgroups[name] = WorkGroup(
                name, str(params.get("Description") or ""), configuration=configuration
            )
        return {}

    def get_work_group(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"WorkGroup": self._workgroup(str(params.get("WorkGroup"))).describe()}

    def update_work_group(self, params: dict[str, Any]) -> dict[str, Any]:
        updates = dict(params.get("ConfigurationUpdates") or {})
        with self._lock:
            workgroup = self._workgroup(str(params.get("WorkGroup")))
            configuration = dict(workgroup.configuration)
            result = dict(configuration.get("ResultConfiguration") or {})
            result_updates = dict(updates.pop("ResultConfigurationUpdates", None) or {})
            if result_updates.pop("RemoveOutputLocation", False):
                result.pop("OutputLocation", None)
            for key in list(result_updates):
                if key.startswith("Remove"):
                    result.pop(key[len("Remove") :], None)
                    result_updates.pop(key)
            result.update(result_updates)
            configuration["ResultConfiguration"] = result
            if updates.pop("RemoveBytesScannedCutoffPerQuery", False):
                configuration.pop("BytesScannedCutoffPerQuery", None)
            for key in [key for key in updates if key.startswith("Remove")]:
                updates.pop(key)
            configuration.update(updates)
            self._check_configuration(configuration)
            workgroup.configuration = configuration
            if "Description" in params:
                workgroup.description = str(params["Description"])
            if params.get("State") in ("ENABLED", "DISABLED"):
                workgroup.state = str(params["State"])
        return {}

    # --- named queries ------------------------------------------------------------------------
    def create_named_query(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("Name") or "")
        database = str(params.get("Database") or "")
        query = str(params.get("QueryString") or "")
        if not name or not database or not query:
            raise _invalid("Name, Database and QueryString are required")
        workgroup = str(params.get("WorkGroup") or PRIMARY)
        token = params.get("ClientRequestToken")
        with self._lock:
            self._workgroup(workgroup)
            if token is not None and token in self._named_tokens:
                return {"NamedQueryId": self._named_tokens[token]}
            named = NamedQuery(
                str(uuid.uuid4()),
                name,
                database,
                query,
                str(params.get("Description") or ""),
                workgroup,
            )
            self._named[named.id] = named
            if token is not None:
                self._named_tokens[token] = named.id
        return {"NamedQueryId": named.id}

    def _named_query(self, query_id: Any) -> NamedQuery:
        named = self._named.get(str(query_id))
        if named is None:
            raise _invalid(f"NamedQuery {query_id} was not found")
        return named

    def get_named_query(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"NamedQuery": self._named_query(params.get("NamedQueryId")).describe()}

    def list_named_queries(self, params: dict[str, Any]) -> dict[str, Any]:
        workgroup = str(params.get("WorkGroup") or PRIMARY)
        with self._lock:
            self._workgroup(workgroup)
            ids = [query.id for query in self._named.values() if query.workgroup == workgroup]
        return _page(ids, params, "NamedQueryIds", "named")


def _classify(query: str) -> tuple[str, str | None, str]:
    """StatementType, SubstatementType and result file extension, known at submission."""
    try:
        statement = parse_statement(query)
    except QueryError:
        return "DML", None, "csv"
    extension = "csv" if statement.kind == "SELECT" else "txt"
    return statement.statement_type, statement.substatement_type, extension


def _has_external_location(query: str) -> bool:
    try:
        statement = parse_statement(query)
    except QueryError:
        return False
    return statement.ctas is not None and statement.ctas.external_location is not None


def _encode_token(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{offset}".encode()).decode()


def _decode_token(token: Any, scope: str, limit: int) -> int:
    if not token:
        return 0
    try:
        owner, _, offset = base64.urlsafe_b64decode(str(token).encode()).decode().rpartition(":")
        position = int(offset)
    except (ValueError, UnicodeDecodeError) as err:
        raise _invalid("NextToken is not valid") from err
    if owner != scope or not 0 <= position <= limit:
        raise _invalid("NextToken is not valid for this request")
    return position


def _page(items: list[Any], params: dict[str, Any], key: str, scope: str) -> dict[str, Any]:
    max_results = int(params.get("MaxResults") or MAX_LIST_RESULTS)
    if not 1 <= max_results <= MAX_LIST_RESULTS:
        raise _invalid(f"MaxResults must be between 1 and {MAX_LIST_RESULTS}")
    start = _decode_token(params.get("NextToken"), scope, len(items))
    response: dict[str, Any] = {key: items[start : start + max_results]}
    if start + max_results < len(items):
        response["NextToken"] = _encode_token(scope, start + max_results)
    return response
