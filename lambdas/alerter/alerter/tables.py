"""The two DynamoDB tables of the alerter: run-time threshold sets, and alert state.

Threshold table (`THRESHOLD_TABLE`): keys `scope` (`*` or a thing name) and `metric`; the set's
fields as numbers; `updated_at`. Read whole (it holds a few items per device) and cached for
`cache_seconds`, so a change takes effect within that time without a redeploy. An item that is
not a valid set (edited by hand) is skipped with a logged reason; the CLI never writes one.

State table (`STATE_TABLE`): keys `device_id` and `metric`; `level`, `side`, `seq` of the last
transition, `alert_id`, `updated_at`. A transition is written with a condition on `seq`, so a
stale or repeated one never overwrites a newer state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from alerter.cache import TimedCache
from alerter.evaluation import MetricState, Transition
from alerter.thresholds import (
    FIELDS,
    METRICS,
    Level,
    Side,
    ThresholdConfig,
    ThresholdError,
    ThresholdSet,
)

log = logging.getLogger(__name__)


class ThresholdTable:
    def __init__(
        self,
        client: Any,
        table: str,
        cache_seconds: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.table = table
        self._config = TimedCache(lambda: ThresholdConfig(dict(self._read())), cache_seconds, clock)
        self.skipped: list[str] = []

    def config(self) -> ThresholdConfig:
        """Every valid set in the table (cached)."""
        return self._config.get()

    def items(self) -> list[dict[str, Any]]:
        """The table's items as plain values (for listing)."""
        items: list[dict[str, Any]] = []
        for page in self._client.get_paginator("scan").paginate(TableName=self.table):
            items.extend(_plain_item(item) for item in page["Items"])
        return sorted(items, key=lambda item: (str(item.get("scope")), str(item.get("metric"))))

    def _read(self) -> list[tuple[tuple[str, str], ThresholdSet]]:
        found: list[tuple[tuple[str, str], ThresholdSet]] = []
        self.skipped = []
        for item in self.items():
            scope, metric = str(item.get("scope")), str(item.get("metric"))
            spec = {name: item[name] for name in FIELDS if name in item}
            if metric not in METRICS:
                self.skipped.append(f"{scope}/{metric}: not a metric")
                continue
            try:
                threshold_set = ThresholdSet.from_mapping(spec, f"{scope}/{metric}")
            except ThresholdError as err:
                self.skipped.append(str(err))
                log.error("threshold table %s: item skipped: %s", self.table, err)
                continue
            found.append(((scope, metric), threshold_set))
        return found

    def put(self, scope: str, metric: str, threshold_set: ThresholdSet, updated_at: str) -> None:
        item: dict[str, Any] = {
            "scope": {"S": scope},
            "metric": {"S": metric},
            "updated_at": {"S": updated_at},
        }
        for name, value in threshold_set.as_mapping().items():
            item[name] = {"N": _number_text(value)}
        self._client.put_item(TableName=self.table, Item=item)
        self._config.clear()

    def delete(self, scope: str, metric: str) -> bool:
        """Remove a set; False if there was none."""
        response = self._client.delete_item(
            TableName=self.table,
            Key={"scope": {"S": scope}, "metric": {"S": metric}},
            ReturnValues="ALL_OLD",
        )
        self._config.clear()
        return "Attributes" in response


class StateTable:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self.table = table

    def load(self, device_id: str) -> dict[str, MetricState]:
        states: dict[str, MetricState] = {}
        for page in self._query(device_id, consistent=True):
            for item in page["Items"]:
                side = item.get("side", {}).get("S")
                states[item["metric"]["S"]] = MetricState(
                    level=Level.parse(item["level"]["S"]),
                    side=Side(side) if side else None,
                    seq=int(item["seq"]["N"]),
                )
        return states

    def items(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """The state items as plain values, of one device or all (for the CLI)."""
        if device_id is not None:
            pages = self._query(device_id)
        else:
            pages = self._client.get_paginator("scan").paginate(TableName=self.table)
        items = [_plain_item(item) for page in pages for item in page["Items"]]
        return sorted(items, key=lambda item: (str(item["device_id"]), str(item["metric"])))

    def _query(self, device_id: str, *, consistent: bool = False) -> Any:
        """The pages of one device's items."""
        return self._client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="device_id = :d",
            ExpressionAttributeValues={":d": {"S": device_id}},
            ConsistentRead=consistent,
        )

    def record(self, transition: Transition, updated_at: str) -> bool:
        """Write the state after `transition`; False if a newer transition is already there."""
        item: dict[str, Any] = {
            "device_id": {"S": transition.device_id},
            "metric": {"S": transition.metric},
            "level": {"S": transition.current.level.label},
            "seq": {"N": str(transition.seq)},
            "alert_id": {"S": transition.alert_id},
            "value": {"N": _number_text(transition.value)},
            "ts": {"S": transition.ts},
            "updated_at": {"S": updated_at},
        }
        if transition.current.side is not None:
            item["side"] = {"S": transition.current.side.value}
        try:
            self._client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(device_id) OR seq < :seq",
                ExpressionAttributeValues={":seq": {"N": str(transition.seq)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(value) for name, value in item.items()}


def _plain(value: dict[str, Any]) -> Any:
    (kind, inner), *_ = value.items()
    if kind == "N":
        number = Decimal(inner)
        return int(number) if number == number.to_integral_value() else float(number)
    return inner


def _number_text(value: float) -> str:
    return format(Decimal(repr(value)), "f") if value != int(value) else str(int(value))
