import pytest

from device.ratelimit import TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_burst_then_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=80, burst=10, clock=clock)
    assert bucket.take(50) == 10
    assert bucket.take(1) == 0
    assert bucket.wait_time() == pytest.approx(1 / 80)
    clock.now += 0.5
    assert bucket.take(100) == 10  # 40 accrued, capped at the burst
    clock.now += 0.0625  # exact in binary: 5 tokens
    assert bucket.take(100) == 5


def test_no_one_second_window_exceeds_rate_plus_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=80, burst=10, clock=clock)
    sent = []
    for step in range(2000):  # 20 s in 10 ms steps, always asking for more than allowed
        clock.now = 1000.0 + step * 0.01
        sent.extend([clock.now] * bucket.take(50))
    for i, start in enumerate(sent):
        in_window = sum(1 for t in sent[i:] if t < start + 1.0)
        assert in_window <= 90
    assert len(sent) == pytest.approx(80 * 20 + 10, abs=2)


def test_zero_rate_is_unlimited():
    bucket = TokenBucket(rate=0)
    assert bucket.unlimited
    assert bucket.take(10_000) == 10_000
    assert bucket.wait_time() == 0


def test_burst_must_be_positive():
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(burst=0)
