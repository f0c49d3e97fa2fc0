"""DynamoDB queries that read their partition, not the whole table.

moto 5's `Query` on a table (not an index) lists and sorts every item of the table, then keeps
those of the queried partition key: a query costs time in proportion to the table. The
compactor queries its state table (an item per raw object) for every S3 event: py-spy on the
moto server in a load run had 16% of its samples in queries, 12% in that listing. In DynamoDB
a query names one partition key value ("Query returns all items with that partition key value",
DynamoDB Developer Guide, "Querying tables in DynamoDB").

Here, while moto runs a table query, the table's item list is that partition's items. moto's
own code still does the rest: key conditions, sorting by the sort key, paging, `Limit`, filters
and projections, so results are moto's (tests/unit/localcloud/moto/test_dynamodb_query.py
compares them on generated tables and queries). Queries of an index are left as moto runs them.
The moto server handles one request at a time (serial.py); the partition is kept per thread all
the same.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_moto_query = Table.query
_moto_all_items = Table.all_items
_scope = threading.local()  # .table, .hash_key: the partition a query reads now


def all_items(self: Table) -> list[Item]:
    """The table's items, or during a query of this table its partition's."""
    if getattr(_scope, "table", None) is not self:
        return _moto_all_items(self)
    partition = self.items.get(_scope.hash_key)
    if partition is None:
        return []
    if self.range_key_attr:
        return list(partition.values())
    return [partition]


def query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name or hash_key is None:
        return _moto_query(self, hash_key, *args, **kwargs)
    _scope.table, _scope.hash_key = self, hash_key
    try:
        return _moto_query(self, hash_key, *args, **kwargs)
    finally:
        _scope.table = _scope.hash_key = None


def install() -> None:
    """Use these queries in this (the moto server's) process."""
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
