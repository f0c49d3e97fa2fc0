"""Which seconds of reading time a batch holds, and which compacted batches it could collide with.

A duplicate of a reading has the same `device_id`, `seq` and `ts`, so it can only be in a batch
that holds readings of the same second (`substr(ts, 1, 19)`, the UTC second of the `ts` string).
The discover query returns the batch's distinct seconds; the batch records them per reading date
as second-of-day ranges. Reading time is cut into hour *slots* (`<date>T<HH>`):
- a batch holds the lock of every slot of a date while it compacts that date, so two batches that
  share a slot never run their CTAS side by side, and batches on disjoint slots do;
- after its files are in place a batch writes one index entry per slot (its seconds of that hour
  as ranges, and its files); a later batch's anti-join reads only the files of the entries whose
  seconds meet its own - in practice the batch before it - never the whole day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

SECOND = re.compile(r"^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 24 * SECONDS_PER_HOUR

Intervals = tuple[tuple[int, int], ...]  # inclusive ranges of seconds, sorted, disjoint
WHOLE_DAY: Intervals = ((0, SECONDS_PER_DAY - 1),)


def intervals(seconds: Iterable[int]) -> Intervals:
    """Seconds as the fewest inclusive ranges."""
    found: list[tuple[int, int]] = []
    for second in sorted(set(seconds)):
        if found and second == found[-1][1] + 1:
            found[-1] = (found[-1][0], second)
        else:
            found.append((second, second))
    return tuple(found)


def reading_seconds(
    rows: Sequence[Sequence[str | None]],
) -> tuple[dict[str, Intervals], list[str]]:
    """The discover query's rows (`YYYY-MM-DDTHH:MM:SS`) as second-of-day ranges per reading date,
    and the values that are not such a second (to report; their readings stay in raw/ only)."""
    per_date: dict[str, set[int]] = {}
    bad: list[str] = []
    for row in rows:
        value = row[0] if row else None
        match = SECOND.match(value) if value is not None else None
        if match is None:
            bad.append(repr(value))
            continue
        date, hour, minute, second = match.groups()
        per_date.setdefault(date, set()).add(int(hour) * 3600 + int(minute) * 60 + int(second))
    return {date: intervals(s) for date, s in sorted(per_date.items())}, bad


def hours(ranges: Intervals) -> list[int]:
    """The hours of the day the ranges touch."""
    return sorted(
        {
            hour
            for start, end in ranges
            for hour in range(start // SECONDS_PER_HOUR, end // SECONDS_PER_HOUR + 1)
        }
    )


def slot(date: str, hour: int) -> str:
    return f"{date}T{hour:02d}"


def slots(date: str, ranges: Intervals) -> list[str]:
    """The hour slots (`<date>T<HH>`) a batch's readings of one date fall in."""
    return [slot(date, hour) for hour in hours(ranges)]


def within_hour(ranges: Intervals, hour: int) -> Intervals:
    """The ranges cut to one hour, as seconds of that hour (0-3599)."""
    low = hour * SECONDS_PER_HOUR
    high = low + SECONDS_PER_HOUR - 1
    return tuple(
        (max(start, low) - low, min(end, high) - low)
        for start, end in ranges
        if start <= high and end >= low
    )


def collides(ranges: Intervals, hour: int, others: Sequence[Sequence[object]]) -> bool:
    """Whether another batch's ranges of this hour (seconds of the hour) meet ours."""
    mine = within_hour(ranges, hour)
    return any(
        start <= int(str(other[1])) and int(str(other[0])) <= end
        for start, end in mine
        for other in others
    )


def encode(ranges: Intervals) -> list[list[int]]:
    return [[start, end] for start, end in ranges]


def decode(stored: Sequence[Sequence[object]]) -> Intervals:
    return tuple((int(str(pair[0])), int(str(pair[1]))) for pair in stored)


def encode_all(coverage: Mapping[str, Intervals]) -> dict[str, list[list[int]]]:
    return {date: encode(ranges) for date, ranges in coverage.items()}


def decode_all(stored: Mapping[str, Sequence[Sequence[object]]]) -> dict[str, Intervals]:
    return {str(date): decode(ranges) for date, ranges in stored.items()}
