"""The Athena port (what the compactor asks of a query engine) and its boto3 implementation.

The workgroup enforces the result location, so no OutputLocation is passed. The
ClientRequestToken makes a repeated start of the same step attempt return the query it already
started instead of running a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class QueryStatus:
    state: str  # QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


class QueryEngine(Protocol):
    def start(self, sql: str, token: str) -> str:
        """Start a query; the same token returns the same query id instead of a new query."""
        ...

    def status(self, query_id: str) -> QueryStatus: ...

    def rows(self, query_id: str) -> list[list[str | None]]:
        """The result rows of a finished SELECT, without the header row."""
        ...


def request_token(*parts: str) -> str:
    """A ClientRequestToken (32-128 characters) derived from what identifies a step attempt."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class AthenaQueries:
    """QueryEngine over boto3's Athena client, in one workgroup and database."""

    def __init__(self, client: Any, workgroup: str, database: str) -> None:
        self._client = client
        self._workgroup = workgroup
        self._database = database

    def start(self, sql: str, token: str) -> str:
        response = self._client.start_query_execution(
            QueryString=sql,
            ClientRequestToken=token,
            QueryExecutionContext={"Database": self._database},
            WorkGroup=self._workgroup,
        )
        return str(response["QueryExecutionId"])

    def status(self, query_id: str) -> QueryStatus:
        response = self._client.get_query_execution(QueryExecutionId=query_id)
        status = response["QueryExecution"]["Status"]
        return QueryStatus(str(status["State"]), str(status.get("StateChangeReason", "")))

    def rows(self, query_id: str) -> list[list[str | None]]:
        rows = list(self._all_rows(query_id))
        return rows[1:]  # the first row of a SELECT's result is the header

    def _all_rows(self, query_id: str) -> Iterator[list[str | None]]:
        paginator = self._client.get_paginator("get_query_results")
        for page in paginator.paginate(QueryExecutionId=query_id):
            for row in page["ResultSet"]["Rows"]:
                yield [cell.get("VarCharValue") for cell in row["Data"]]
