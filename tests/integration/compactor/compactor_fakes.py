"""An Athena stand-in for the compactor's tests: the query lifecycle, no SQL.

It keeps Athena's observable contract that the compactor relies on: query ids, idempotent
ClientRequestToken, QUEUED/RUNNING/terminal states, SELECT results with a header row, and a CTAS
in a workgroup that enforces its result location: the files go to
`<result location>tables/<query id>/` and the table is registered in Glue with that location.
Failures and slow queries are scripted per kind of query ("discover" or "ctas").
"""

import itertools
import re
from dataclasses import dataclass, field

from compactor.athena import QueryStatus

CTAS = re.compile(r'CREATE TABLE "(\w+)"\."(\w+)"')
RESULTS = "query-results"


@dataclass
class Query:
    query_id: str
    sql: str
    token: str
    kind: str
    script: list = field(default_factory=list)  # states still to report before the final one
    final: str = "SUCCEEDED"
    write_partial: bool = False
    settled: bool = False
    rows: list = field(default_factory=list)


class FakeAthena:
    def __init__(self, s3, glue, dates=("2026-11-22",)):
        self.s3 = s3
        self.glue = glue
        self.dates = list(dates)
        self.next_seconds = []  # per discover query, in start order: its reading seconds
        self.queries = {}
        self.by_token = {}
        self.plans = {"discover": [], "ctas": []}
        self._ids = itertools.count(1)

    # scripting
    def fail_next(self, kind, write_partial=True, polls=1):
        self.plans[kind].append(("FAILED", write_partial, polls))

    def slow_next(self, kind, polls):
        self.plans[kind].append(("SUCCEEDED", False, polls))

    # the QueryEngine port
    def start(self, sql, token):
        if token in self.by_token:
            return self.by_token[token]
        kind = "ctas" if sql.startswith("CREATE TABLE") else "discover"
        final, partial, polls = (
            self.plans[kind].pop(0) if self.plans[kind] else ("SUCCEEDED", False, 1)
        )
        query_id = f"q-{next(self._ids):04d}"
        query = Query(query_id, sql, token, kind, ["QUEUED"] + ["RUNNING"] * polls, final, partial)
        if kind == "discover":
            seconds = self.next_seconds.pop(0) if self.next_seconds else None
            query.rows = [[s] for s in seconds or [f"{d}T12:00:00" for d in self.dates]]
        self.queries[query_id] = query
        self.by_token[token] = query_id
        return query_id

    def status(self, query_id):
        query = self.queries[query_id]
        if query.script:
            return QueryStatus(query.script.pop(0))
        if not query.settled:
            query.settled = True
            self._settle(query)
        reason = "HIVE_BAD_DATA: injected failure" if query.final == "FAILED" else ""
        return QueryStatus(query.final, reason)

    def rows(self, query_id):
        query = self.queries[query_id]
        assert query.kind == "discover" and query.final == "SUCCEEDED"
        return query.rows  # the reading seconds

    # what a CTAS leaves behind
    def _settle(self, query):
        if query.kind != "ctas":
            return
        database, table = CTAS.search(query.sql).groups()
        bucket, prefix = RESULTS, f"tables/{query.query_id}/"
        if query.final == "SUCCEEDED":
            for part in range(2):
                self.s3.put_object(
                    Bucket=bucket, Key=f"{prefix}{query.query_id}-{part}.parquet", Body=b"PAR1"
                )
            self.glue.create_table(
                DatabaseName=database,
                TableInput={
                    "Name": table,
                    "TableType": "EXTERNAL_TABLE",
                    "StorageDescriptor": {"Location": f"s3://{bucket}/{prefix}"},
                },
            )
        elif query.write_partial:
            self.s3.put_object(
                Bucket=bucket, Key=f"{prefix}{query.query_id}-partial.parquet", Body=b"PAR1"
            )

    # what tests look at
    def started(self, kind=None):
        return [q for q in self.queries.values() if kind is None or q.kind == kind]
