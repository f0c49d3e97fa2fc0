"""Where each device is: the device registry's object in the data bucket (`DEVICE_REGISTRY_KEY`,
written by the stack's custom resource from `deviceNames`, read by the Glue table `devices`).

One JSON object a line with `device_id` and `place` (`site/building/floor/room` as far as set).
Read whole and cached for `cache_seconds`, as the threshold table is. No object (a stack without
it, or not written yet) means no device has a place; a line that cannot be read is skipped with
a logged reason, and the rest still count.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from alerter.cache import TimedCache

log = logging.getLogger(__name__)


def places_from_json_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """device -> place path, and the reasons of the lines skipped."""
    places: dict[str, str] = {}
    skipped: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            skipped.append(f"line {number}: not JSON ({err})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("device_id"), str):
            skipped.append(f"line {number}: not an object with a device_id")
            continue
        place = row.get("place")
        if isinstance(place, str) and place:
            places[row["device_id"]] = place
    return places, skipped


class DeviceRegistry:
    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        cache_seconds: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self._places = TimedCache(self._read, cache_seconds, clock)
        self.skipped: list[str] = []

    def place_of(self, device: str) -> str | None:
        return self.places().get(device)

    def places(self) -> dict[str, str]:
        return self._places.get()

    def _read(self) -> dict[str, str]:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except self._client.exceptions.NoSuchKey:
            log.info(
                "no device registry at s3://%s/%s: no device has a place", self.bucket, self.key
            )
            return {}
        places, self.skipped = places_from_json_lines(body.decode("utf-8", errors="replace"))
        for reason in self.skipped:
            log.error("device registry s3://%s/%s: %s", self.bucket, self.key, reason)
        return places
