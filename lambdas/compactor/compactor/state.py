"""The compactor's state in one DynamoDB table (keys `pk` S, `sk` S, TTL attribute `ttl`).

Items:
- `object#<key>` / `object`: the object has been counted (conditional put: counted once).
- `pending` / `<event time>#<key>`: counted and not yet in a batch; oldest first.
- `batch#<id>` / `batch`: a batch, its objects and the progress of its queries.
- `open` / `<id>`: the batch is not finished yet; `retry_after` (epoch s) delays a failed one.
- `lease` / `<id>`: the invocation driving the batch now (`owner`) and the end of its lease
  (`lease_until`, epoch ms). Batches have a lease each, so several run side by side.
- `slot` / `<date>T<HH>`: the batch (`batch_id`) compacting readings of that hour of reading time
  now. A batch takes all slots of a date at once and frees them when the date is done or failed;
  two batches that share a slot never compact side by side.
- `compacted#<date>T<HH>` / `<id>`: a compacted batch's seconds of that hour (`seconds`, ranges)
  and the files of its date (`files`, S3 URIs): what a later batch's anti-join reads (coverage.py).

Every change is one conditional write or one transaction; nothing reads a value and writes it back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from compactor import coverage
from compactor.batches import OPEN, SUCCEEDED, Batch, StepState
from compactor.coverage import Intervals
from compactor.objects import RawObject

MARKER_TTL = timedelta(days=90)  # S3 re-delivers an event within hours, never after months
FINISHED_BATCH_TTL = timedelta(days=90)
# A reading re-delivered later than this after its first copy was compacted is not recognised.
INDEX_TTL = timedelta(days=90)
LEASE_TTL = timedelta(days=1)  # a lease item left by a crash between take and release
PENDING_PK = "pending"
OPEN_PK = "open"
LEASE_PK = "lease"
SLOT_PK = "slot"
INDEX_PK = "compacted#"
CONFLICT_RETRIES = 8

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class LeaseLost(Exception):
    """Another invocation has taken over the batch this invocation was driving."""


@dataclass(frozen=True)
class Lease:
    batch_id: str
    owner: str
    lease_until_ms: int


def encode(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def decode(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


class StateStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # --- counting -------------------------------------------------------------------------

    def register(self, obj: RawObject, now: datetime) -> bool:
        """Count the object once: True if this call counted it, False if it was counted before."""
        marker = {
            "pk": f"object#{obj.key}",
            "sk": "object",
            "event_time": obj.event_time,
            "registered_at": now.astimezone(UTC).isoformat(),
            "ttl": epoch_seconds(now + MARKER_TTL),
        }
        pending = {"pk": PENDING_PK, "sk": pending_sort_key(obj), **object_attributes(obj)}
        actions = [
            self._put(marker, "attribute_not_exists(pk)"),
            self._put(pending, "attribute_not_exists(pk)"),
        ]
        for attempt in range(CONFLICT_RETRIES):
            reasons = self._transact(actions)
            if reasons is None:
                return True
            if "ConditionalCheckFailed" in reasons:
                return False
            _pause(attempt)  # a transaction on the same item is in flight: try again
        raise RuntimeError(f"could not register {obj.key}: transactions kept conflicting")

    def pending(self, limit: int) -> list[RawObject]:
        """Up to `limit` counted, unbatched objects, oldest event first (strongly consistent)."""
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=encode({":pk": PENDING_PK}),
            ConsistentRead=True,
            Limit=limit,
        )
        return [object_from_item(decode(item)) for item in response.get("Items", [])]

    def count_pending(self) -> int:
        return sum(1 for _ in self._query_all(PENDING_PK, keys_only=True))

    # --- claiming -------------------------------------------------------------------------

    def claim(
        self, objects: Sequence[RawObject], batch_id: str, reason: str, now: datetime
    ) -> bool:
        """Move exactly these pending objects into a new batch, all or nothing.

        False if any of them is no longer pending (another invocation claimed it) or a concurrent
        transaction got in the way; the caller looks at the pending objects again.
        """
        if not objects:
            raise ValueError("a batch needs at least one object")
        record = {
            "pk": batch_pk(batch_id),
            "sk": "batch",
            "batch_id": batch_id,
            "status": OPEN,
            "reason": reason,
            "claimed_at": now.astimezone(UTC).isoformat(),
            "objects": [object_attributes(obj) for obj in objects],
            "steps": {},
            "attempts": 0,
        }
        actions = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": encode({"pk": PENDING_PK, "sk": pending_sort_key(obj)}),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            for obj in objects
        ]
        actions.append(self._put(record, "attribute_not_exists(pk)"))
        actions.append(self._put({"pk": OPEN_PK, "sk": batch_id, "retry_after": 0}, None))
        return self._transact(actions, token=batch_id) is None

    # --- batches --------------------------------------------------------------------------

    def open_batch_ids(self, now: datetime) -> list[str]:
        """Unfinished batches that may run now (not waiting out a retry delay), oldest first."""
        due = epoch_seconds(now)
        return [
            str(item["sk"])
            for item in self._query_all(OPEN_PK)
            if int(item.get("retry_after", 0)) <= due
        ]

    def load_batch(self, batch_id: str) -> Batch | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=encode({"pk": batch_pk(batch_id), "sk": "batch"}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        return batch_from_item(decode(response["Item"]))

    def save_step(self, batch: Batch, step: str, state: StepState, owner: str) -> None:
        self._as_owner(
            batch.batch_id,
            owner,
            [self._set_step(batch.batch_id, step, state)],
        )

    def _set_step(self, batch_id: str, step: str, state: StepState) -> dict[str, Any]:
        """The update that records one step's state on the batch item."""
        return self._update_batch(
            batch_id,
            "SET steps.#step = :state",
            names={"#step": step},
            values={":state": step_attributes(state)},
        )

    def save_dates(self, batch: Batch, seconds: Mapping[str, Intervals], owner: str) -> None:
        """Record the batch's reading dates and their seconds (the discover step's result)."""
        self._as_owner(
            batch.batch_id,
            owner,
            [
                self._update_batch(
                    batch.batch_id,
                    "SET dates = :dates, coverage = :coverage",
                    values={":dates": list(seconds), ":coverage": coverage.encode_all(seconds)},
                )
            ],
        )

    def finish(self, batch: Batch, owner: str, now: datetime) -> None:
        """Record the batch as succeeded, take it off the open list and end its lease."""
        self._transact_or_lose_lease(
            [
                self._delete_lease(batch.batch_id, owner),
                self._update_batch(
                    batch.batch_id,
                    "SET #status = :done, finished_at = :at, #ttl = :ttl",
                    names={"#status": "status", "#ttl": "ttl"},
                    values={
                        ":done": SUCCEEDED,
                        ":at": now.astimezone(UTC).isoformat(),
                        ":ttl": epoch_seconds(now + FINISHED_BATCH_TTL),
                    },
                ),
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": encode({"pk": OPEN_PK, "sk": batch.batch_id}),
                    }
                },
            ]
        )

    def fail(
        self,
        batch: Batch,
        step: str,
        state: StepState,
        error: str,
        retry_after: datetime,
        owner: str,
        slots: Sequence[str] = (),
    ) -> None:
        """Record a failed query: the step starts over later; the lease and the slots are freed."""
        self._transact_or_lose_lease(
            [
                self._delete_lease(batch.batch_id, owner),
                self._update_batch(
                    batch.batch_id,
                    "SET steps.#step = :state, last_error = :error ADD attempts :one",
                    names={"#step": step},
                    values={":state": step_attributes(state), ":error": error[:2000], ":one": 1},
                ),
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": encode({"pk": OPEN_PK, "sk": batch.batch_id}),
                        "UpdateExpression": "SET retry_after = :after",
                        "ExpressionAttributeValues": encode({":after": epoch_seconds(retry_after)}),
                    }
                },
                *(self._free_slot(name, batch.batch_id) for name in slots),
            ]
        )

    # --- leases ---------------------------------------------------------------------------

    def lease(self, batch_id: str) -> Lease | None:
        response = self._client.get_item(
            TableName=self._table,
            Key=encode({"pk": LEASE_PK, "sk": batch_id}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        item = decode(response["Item"])
        return Lease(str(item["batch_id"]), str(item["owner"]), int(item["lease_until"]))

    def take_lease(
        self, batch_id: str, owner: str, lease_until_ms: int, previous: Lease | None
    ) -> bool:
        """Take the batch's free lease, or take over `previous` (one that has ended)."""
        item = {
            "pk": LEASE_PK,
            "sk": batch_id,
            "batch_id": batch_id,
            "owner": owner,
            "lease_until": lease_until_ms,
            "ttl": lease_until_ms // 1000 + int(LEASE_TTL.total_seconds()),
        }
        request: dict[str, Any] = {"TableName": self._table, "Item": encode(item)}
        if previous is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "#owner = :owner AND lease_until = :lease"
            request["ExpressionAttributeNames"] = {"#owner": "owner"}
            request["ExpressionAttributeValues"] = encode(
                {":owner": previous.owner, ":lease": previous.lease_until_ms}
            )
        try:
            self._client.put_item(**request)
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, batch_id: str, owner: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=encode({"pk": LEASE_PK, "sk": batch_id}),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=encode({":owner": owner}),
            )
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                raise LeaseLost("the lease is no longer this invocation's") from err
            raise

    def end_lease(self, batch_id: str, owner: str, now_ms: int) -> None:
        """Keep the batch's lease item but let the next invocation take the batch over at once."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=encode({"pk": LEASE_PK, "sk": batch_id}),
                UpdateExpression="SET lease_until = :now",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=encode({":owner": owner, ":now": now_ms}),
            )
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":
                raise

    # --- slots and the index of compacted batches -------------------------------------------

    def take_slots(self, batch_id: str, owner: str, slots: Sequence[str]) -> bool:
        """Take every slot at once (those this batch holds already count as taken); False if
        another batch holds one of them. Raises LeaseLost if the lease is no longer `owner`'s."""
        actions = [
            self._lease_check(batch_id, owner),
            *(
                self._put(
                    {"pk": SLOT_PK, "sk": name, "batch_id": batch_id},
                    "attribute_not_exists(pk) OR batch_id = :batch",
                    {":batch": batch_id},
                )
                for name in slots
            ),
        ]
        for attempt in range(CONFLICT_RETRIES):
            reasons = self._transact(actions)
            if reasons is None:
                return True
            if reasons[0] == "ConditionalCheckFailed":
                raise LeaseLost("the lease is no longer this invocation's")
            if "ConditionalCheckFailed" in reasons:
                return False
            _pause(attempt)
        return False

    def slot_holder(self, name: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table, Key=encode({"pk": SLOT_PK, "sk": name}), ConsistentRead=True
        )
        return str(response["Item"]["batch_id"]["S"]) if "Item" in response else None

    def colliding_files(self, reading_date: str, ranges: Intervals, batch_id: str) -> list[str]:
        """The files of the other compacted batches that hold readings of the same seconds."""
        files: set[str] = set()
        for hour in coverage.hours(ranges):
            for item in self._query_all(INDEX_PK + coverage.slot(reading_date, hour)):
                if item["sk"] != batch_id and coverage.collides(ranges, hour, item["seconds"]):
                    files.update(str(path) for path in item["files"])
        return sorted(files)

    def complete_date(
        self,
        batch: Batch,
        step: str,
        state: StepState,
        reading_date: str,
        files: Sequence[str],
        owner: str,
        now: datetime,
    ) -> None:
        """Mark the date's step done, index the batch's files under each slot of the date and
        free those slots, in one transaction (at most 2 + 2 x 24 actions)."""
        ranges = batch.ranges(reading_date)
        ttl = epoch_seconds(now + INDEX_TTL)
        index = [
            self._put(
                {
                    "pk": INDEX_PK + coverage.slot(reading_date, hour),
                    "sk": batch.batch_id,
                    "seconds": coverage.encode(coverage.within_hour(ranges, hour)),
                    "files": list(files),
                    "ttl": ttl,
                },
                None,
            )
            for hour in coverage.hours(ranges)
        ]
        self._as_owner(
            batch.batch_id,
            owner,
            [
                self._set_step(batch.batch_id, step, state),
                *index,
                *(
                    self._free_slot(name, batch.batch_id)
                    for name in coverage.slots(reading_date, ranges)
                ),
            ],
        )

    # --- helpers --------------------------------------------------------------------------

    def _put(
        self,
        item: Mapping[str, Any],
        condition: str | None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": encode(item)}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = encode(values)
        return {"Put": put}

    def _free_slot(self, name: str, batch_id: str) -> dict[str, Any]:
        """Delete a slot item if this batch holds it (a slot it does not hold stays)."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": encode({"pk": SLOT_PK, "sk": name}),
                "ConditionExpression": "attribute_not_exists(pk) OR batch_id = :batch",
                "ExpressionAttributeValues": encode({":batch": batch_id}),
            }
        }

    def _update_batch(
        self,
        batch_id: str,
        expression: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": encode({"pk": batch_pk(batch_id), "sk": "batch"}),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
        }
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if values:
            update["ExpressionAttributeValues"] = encode(values)
        return {"Update": update}

    def _lease_check(self, batch_id: str, owner: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": encode({"pk": LEASE_PK, "sk": batch_id}),
                "ConditionExpression": "#owner = :owner",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": encode({":owner": owner}),
            }
        }

    def _delete_lease(self, batch_id: str, owner: str) -> dict[str, Any]:
        check = self._lease_check(batch_id, owner)["ConditionCheck"]
        return {"Delete": check}

    def _as_owner(self, batch_id: str, owner: str, actions: list[dict[str, Any]]) -> None:
        self._transact_or_lose_lease([self._lease_check(batch_id, owner), *actions])

    def _transact_or_lose_lease(self, actions: list[dict[str, Any]]) -> None:
        """Run a transaction whose first action checks the lease; retry conflicts."""
        for attempt in range(CONFLICT_RETRIES):
            reasons = self._transact(actions)
            if reasons is None:
                return
            if reasons[0] == "ConditionalCheckFailed":
                raise LeaseLost("the lease is no longer this invocation's")
            if "ConditionalCheckFailed" in reasons:
                raise RuntimeError(f"the batch record is missing or a slot is not ours: {reasons}")
            _pause(attempt)
        raise RuntimeError("state update kept conflicting with other transactions")

    def _transact(
        self, actions: list[dict[str, Any]], token: str | None = None
    ) -> list[str] | None:
        """None if the transaction committed; else the cancellation reason code per action."""
        request: dict[str, Any] = {"TransactItems": actions}
        if token:
            request["ClientRequestToken"] = token
        try:
            self._client.transact_write_items(**request)
        except ClientError as err:
            if _code(err) != "TransactionCanceledException":
                raise
            reasons = err.response.get("CancellationReasons") or []
            return [str(reason.get("Code", "None")) for reason in reasons] or ["Unknown"]
        return None

    def _query_all(self, pk: str, keys_only: bool = False) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": encode({":pk": pk}),
            "ConsistentRead": True,
        }
        if keys_only:
            request["ProjectionExpression"] = "pk, sk"
        while True:
            response = self._client.query(**request)
            for item in response.get("Items", []):
                yield decode(item)
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def batch_pk(batch_id: str) -> str:
    return f"batch#{batch_id}"


def pending_sort_key(obj: RawObject) -> str:
    return f"{obj.event_time}#{obj.key}"


def object_attributes(obj: RawObject) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "key": obj.key,
        "dt": obj.dt,
        "hour": obj.hour,
        "event_time": obj.event_time,
    }


def object_from_item(item: Mapping[str, Any]) -> RawObject:
    return RawObject(
        bucket=str(item["bucket"]),
        key=str(item["key"]),
        dt=str(item["dt"]),
        hour=int(item["hour"]),
        event_time=str(item["event_time"]),
    )


def step_attributes(state: StepState) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "attempt": state.attempt,
        "prepared": state.prepared,
        "copied": state.copied,
        "done": state.done,
    }
    if state.query_id is not None:
        attributes["query_id"] = state.query_id
    if state.source is not None:
        attributes["source"] = state.source
    return attributes


def step_from_attributes(attributes: Mapping[str, Any]) -> StepState:
    query_id = attributes.get("query_id")
    source = attributes.get("source")
    return StepState(
        attempt=int(attributes.get("attempt", 0)),
        query_id=str(query_id) if query_id is not None else None,
        prepared=int(attributes.get("prepared", -1)),
        source=str(source) if source is not None else None,
        copied=bool(attributes.get("copied", False)),
        done=bool(attributes.get("done", False)),
    )


def batch_from_item(item: Mapping[str, Any]) -> Batch:
    dates = item.get("dates")
    seconds = item.get("coverage")
    return Batch(
        batch_id=str(item["batch_id"]),
        objects=tuple(object_from_item(obj) for obj in item["objects"]),
        reason=str(item["reason"]),
        claimed_at=str(item["claimed_at"]),
        status=str(item["status"]),
        attempts=int(item.get("attempts", 0)),
        dates=tuple(str(d) for d in dates) if dates is not None else None,
        steps={name: step_from_attributes(s) for name, s in item.get("steps", {}).items()},
        last_error=str(item["last_error"]) if item.get("last_error") else None,
        coverage=coverage.decode_all(seconds) if seconds is not None else None,
    )


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _pause(attempt: int) -> None:
    """Jittered exponential backoff between retries of a conflicting transaction."""
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
