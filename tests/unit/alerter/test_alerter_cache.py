"""The timed cache behind the threshold table and the device registry (alerter/cache.py)."""

import itertools

from alerter.cache import TimedCache


def test_a_value_is_read_once_within_its_seconds_and_again_after():
    reads = itertools.count(1)
    now = [100.0]
    cache = TimedCache(lambda: next(reads), 60, lambda: now[0])
    assert cache.get() == 1
    now[0] += 59.9
    assert cache.get() == 1
    now[0] += 0.1  # 60 s after the read
    assert cache.get() == 2
    assert next(reads) == 3  # read twice in all


def test_clear_makes_the_next_get_read():
    reads = itertools.count(1)
    cache = TimedCache(lambda: next(reads), 60, lambda: 100.0)
    assert cache.get() == 1
    cache.clear()
    assert cache.get() == 2
    assert cache.get() == 2


def test_zero_seconds_reads_every_time():
    reads = itertools.count(1)
    cache = TimedCache(lambda: next(reads), 0, lambda: 100.0)
    assert [cache.get(), cache.get(), cache.get()] == [1, 2, 3]
