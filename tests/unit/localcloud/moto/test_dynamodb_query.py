"""Queries that read their partition (localcloud/moto/dynamodb_query.py) give moto's own results:
generated tables and queries, each run by moto as shipped and with the partition read, in moto's
backend in this process."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.moto import dynamodb_query

PARTITIONS = ["a", "b", "c", "missing"]
CONDITIONS = [None, "=", "<", "<=", ">", ">=", "BETWEEN"]


@contextlib.contextmanager
def partition_reads() -> Iterator[None]:
    saved = Table.query, Table.all_items
    dynamodb_query.install()
    try:
        yield
    finally:
        Table.query, Table.all_items = saved  # type: ignore[method-assign]


def backend_with(items: list[tuple[str, int, int]]) -> DynamoDBBackend:
    """A table keyed (pk S, sk N) with a GSI on `g`, holding `items` as (pk, sk, g)."""
    backend = DynamoDBBackend(REGION, ACCOUNT_ID)
    backend.create_table(
        "t",
        schema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        throughput=None,
        attr=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        global_indexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=None,
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    for pk, sk, g in items:
        item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "g": {"S": f"g{g}"}, "v": {"N": str(g)}}
        backend.put_item("t", item)
    return backend


def all_pages(backend: DynamoDBBackend, request: dict[str, Any]) -> list[Any]:
    """Every page of a query, as (items, scanned, last key) in plain values."""
    pages: list[Any] = []
    start = None
    while True:
        items, scanned, last = backend.query(
            "t", exclusive_start_key=start, projection_expressions=None, **request
        )
        pages.append(([item.to_json() for item in items], scanned, last))
        if not last or len(pages) > 50:
            return pages
        start = last


queries = st.fixed_dictionaries(
    {
        "partition": st.sampled_from(PARTITIONS),
        "condition": st.sampled_from(CONDITIONS),
        "low": st.integers(-3, 12),
        "high": st.integers(-3, 12),
        "limit": st.sampled_from([None, 1, 2, 5]),
        "forward": st.booleans(),
    }
)


def request_for(query: dict[str, Any], index: bool) -> dict[str, Any]:
    values = [{"N": str(query["low"])}]
    if query["condition"] == "BETWEEN":
        values.append({"N": str(max(query["low"], query["high"]))})
    return {
        "hash_key_dict": {"S": f"g{query['low'] % 3}"} if index else {"S": query["partition"]},
        "range_comparison": None if index else query["condition"],
        "range_value_dicts": [] if index or query["condition"] is None else values,
        "limit": query["limit"],
        "scan_index_forward": query["forward"],
        "index_name": "by-g" if index else None,
        "consistent_read": not index,
    }


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(PARTITIONS[:3]), st.integers(0, 9), st.integers(0, 2)),
        unique_by=lambda item: (item[0], item[1]),
        max_size=25,
    ),
    query=queries,
    index=st.booleans(),
)
def test_a_query_reading_its_partition_returns_what_moto_returns(items, query, index):
    backend = backend_with(items)
    request = request_for(query, index)
    expected = all_pages(backend, request)
    with partition_reads():
        assert all_pages(backend, request) == expected


def test_a_table_query_does_not_list_the_table_and_a_scan_still_does():
    backend = backend_with([(pk, sk, 0) for pk in ("a", "b", "c") for sk in range(10)])
    listed: list[int] = []
    moto_all_items = dynamodb_query._moto_all_items

    def counting(self: Table) -> Any:
        items = moto_all_items(self)
        listed.append(len(items))
        return items

    with partition_reads(), contextlib.ExitStack() as stack:
        stack.callback(setattr, dynamodb_query, "_moto_all_items", moto_all_items)
        dynamodb_query._moto_all_items = counting
        items, _, _ = backend.query(
            "t",
            hash_key_dict={"S": "b"},
            range_comparison=None,
            range_value_dicts=[],
            limit=None,  # type: ignore[arg-type]
            exclusive_start_key=None,  # type: ignore[arg-type]
            scan_index_forward=True,
            projection_expressions=None,
        )
        assert [item.attrs["sk"].value for item in items] == [str(n) for n in range(10)]
        assert listed == []  # the partition was read, the table not listed
        scanned, _, _ = backend.scan(
            "t",
            {},
            None,
            None,
            None,
            {},
            {},
            None,
            False,
            None,
            (None, None),  # type: ignore[arg-type]
        )
        assert len(scanned) == 30 and listed == [30]
