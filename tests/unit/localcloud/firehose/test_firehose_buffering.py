"""When a Firehose buffer is delivered: size or interval hint, whichever comes first."""

from datetime import UTC, datetime

from localcloud.firehose.buffer import DeliveryBuffer
from localcloud.firehose.config import MIB, BufferingHints
from localcloud.kinesis.consumer import SourceRecord, last_sequence_by_shard

ARRIVAL = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def record(size=10, shard="shardId-000000000000", seq="1"):
    return SourceRecord(shard, seq, "pk", b"x" * size, ARRIVAL)


def test_an_empty_buffer_is_never_delivered_however_long_it_waits():
    clock = FakeClock()
    buffer = DeliveryBuffer(BufferingHints(interval_seconds=1, size_mib=1), clock)
    clock.now += 3600
    assert not buffer.should_deliver()
    assert buffer.seconds_until_due() is None


def test_delivered_when_the_size_hint_is_reached_before_the_interval():
    clock = FakeClock()
    buffer = DeliveryBuffer(BufferingHints(interval_seconds=300, size_mib=1), clock)
    buffer.add(record(MIB // 2))
    assert not buffer.should_deliver()
    buffer.add(record(MIB // 2 - 1))
    assert not buffer.should_deliver()
    buffer.add(record(1))
    assert buffer.is_full()
    assert buffer.should_deliver()


def test_delivered_when_the_interval_passes_since_the_first_record():
    clock = FakeClock()
    buffer = DeliveryBuffer(BufferingHints(interval_seconds=60, size_mib=5), clock)
    buffer.add(record())
    clock.now += 59
    buffer.add(record())  # later records do not restart the interval
    assert not buffer.should_deliver()
    assert buffer.seconds_until_due() == 1
    clock.now += 1
    assert buffer.is_due()
    assert buffer.should_deliver()


def test_zero_interval_delivers_every_read():
    clock = FakeClock()
    buffer = DeliveryBuffer(BufferingHints(interval_seconds=0, size_mib=1), clock)
    buffer.add(record())
    assert buffer.should_deliver()


def test_take_empties_the_buffer_and_restarts_the_interval():
    clock = FakeClock()
    buffer = DeliveryBuffer(BufferingHints(interval_seconds=60, size_mib=1), clock)
    first, second = record(seq="1"), record(seq="2")
    buffer.add(first)
    buffer.add(second)
    clock.now += 60
    assert buffer.take() == [first, second]
    assert len(buffer) == 0
    assert buffer.size_bytes == 0
    buffer.add(record(seq="3"))
    assert not buffer.should_deliver()


def test_checkpoint_positions_compare_sequence_numbers_as_numbers():
    records = [
        record(shard="shardId-000000000000", seq="9"),
        record(shard="shardId-000000000000", seq="10"),
        record(shard="shardId-000000000001", seq="7"),
    ]
    assert last_sequence_by_shard(records) == {
        "shardId-000000000000": "10",
        "shardId-000000000001": "7",
    }
