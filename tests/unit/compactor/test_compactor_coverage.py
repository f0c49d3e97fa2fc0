"""A batch's reading seconds, its hour slots, and which indexed batches it could collide with."""

import pytest

from compactor.batches import Batch
from compactor.coverage import (
    WHOLE_DAY,
    collides,
    decode_all,
    encode_all,
    hours,
    intervals,
    reading_seconds,
    slots,
    within_hour,
)


def s(hour, minute, second):
    return hour * 3600 + minute * 60 + second


def test_seconds_become_the_fewest_ranges():
    assert intervals([5, 3, 4, 4, 10, 60, 61]) == ((3, 5), (10, 10), (60, 61))
    assert intervals([]) == ()


def test_discover_rows_become_ranges_per_date_and_the_rest_is_reported():
    rows = [
        ["2026-11-22T23:59:58"],
        ["2026-11-22T23:59:59"],
        ["2026-11-23T00:00:00"],
        ["2026-11-22T07:05:00"],
        [None],
        ["2026-11-22T24:00:00"],  # not a time
        ["2026-11-22T07:05"],
        [],
    ]
    seconds, bad = reading_seconds(rows)
    assert seconds == {
        "2026-11-22": ((s(7, 5, 0), s(7, 5, 0)), (s(23, 59, 58), s(23, 59, 59))),
        "2026-11-23": ((0, 0),),
    }
    assert list(seconds) == ["2026-11-22", "2026-11-23"]
    assert len(bad) == 4


def test_slots_are_the_hours_of_reading_time_a_date_touches():
    ranges = ((s(7, 5, 0), s(7, 5, 0)), (s(9, 59, 59), s(11, 0, 0)))
    assert hours(ranges) == [7, 9, 10, 11]
    assert slots("2026-11-22", ranges) == [
        "2026-11-22T07",
        "2026-11-22T09",
        "2026-11-22T10",
        "2026-11-22T11",
    ]
    assert len(slots("2026-11-22", WHOLE_DAY)) == 24


def test_ranges_within_an_hour_and_collisions_are_exact_to_the_second():
    ranges = ((s(9, 59, 58), s(10, 0, 2)), (s(10, 30, 0), s(10, 30, 0)))
    assert within_hour(ranges, 9) == ((3598, 3599),)
    assert within_hour(ranges, 10) == ((0, 2), (1800, 1800))
    assert within_hour(ranges, 11) == ()
    assert collides(ranges, 10, [[2, 30]])
    assert collides(ranges, 10, [[1000, 1800]])
    assert not collides(ranges, 10, [[3, 1799], [1801, 3599]])
    assert not collides(ranges, 9, [[0, 3597]])


def test_ranges_survive_the_state_table():
    coverage = {"2026-11-22": ((0, 5), (70, 70))}
    stored = encode_all(coverage)
    assert stored == {"2026-11-22": [[0, 5], [70, 70]]}
    assert decode_all(stored) == coverage


@pytest.mark.parametrize("recorded", [None, {"2026-11-23": ((0, 0),)}])
def test_a_batch_without_recorded_seconds_of_a_date_covers_the_whole_day(recorded):
    batch = Batch("20261122T120000Z-0a1b2c3d", (), "age", "now", coverage=recorded)
    assert batch.ranges("2026-11-22") == WHOLE_DAY
