"""DynamoDB transactions whose cost does not grow with the tables they touch.

moto 5's `TransactWriteItems` deep-copies each table a transaction names, once per item of the
transaction, so that it can put the tables back if the transaction is cancelled. A transaction
therefore costs time in proportion to the size of its tables: during the demo's compaction,
with the compactor's state table holding an item per raw object, 64% of the local cloud's CPU
was in that copy (py-spy), and the demo's compaction took a minute and a half.

Here the backup is of the items the transaction names (DynamoDB allows 100 a transaction),
taken before moto runs it and put back if moto raises; moto's copy of a table becomes the table
itself, so its own rollback changes nothing. moto's checks, conditions and writes are unchanged:
what a transaction does and how it fails is still moto's (tests/integration/localcloud/moto/).
"""

from __future__ import annotations

import copy
import types
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_moto_transact_write_items = DynamoDBBackend.transact_write_items
Backup = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` for moto's DynamoDB models, but a table is not copied."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Backup]:
    """A copy of each item the transaction names, as it is now (None: there is none)."""
    backups: list[Backup] = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(str(op.get("TableName")))
            key = op.get("Item") if op_type == "Put" else op.get("Key")
            if table is None or not isinstance(key, dict):
                continue  # moto rejects it before writing anything
            try:
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = None
                if table.range_key_attr is not None:
                    range_key = DynamoType(key[table.range_key_attr])
                current = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 - a missing or malformed key: moto rejects it
                continue
            backups.append((table, hash_key, range_key, copy.deepcopy(current)))
    return backups


def _put_back(backups: list[Backup]) -> None:
    """Each named item as it was before the transaction (the first backup of a key wins)."""
    for table, hash_key, range_key, item in reversed(backups):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    backups = _touched(self, transact_items)
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        _put_back(backups)
        raise


def install() -> None:
    """Use these transactions in this (the moto server's) process."""
    models.copy = types.SimpleNamespace(deepcopy=_deepcopy)  # type: ignore[assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
