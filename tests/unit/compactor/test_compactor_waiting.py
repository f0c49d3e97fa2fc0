"""Waiting for a query: backoff that grows, stays inside the time left, and gives up in time."""

from compactor.athena import QueryStatus, request_token
from compactor.waiting import MAX_DELAY_S, Deadline, wait_for_query


class Clock:
    """Lambda's remaining time, advanced by the waiter's sleeps."""

    def __init__(self, remaining_ms):
        self.remaining = remaining_ms
        self.sleeps = []

    def remaining_ms(self):
        return int(self.remaining)

    def sleep(self, seconds):
        assert seconds > 0
        self.sleeps.append(seconds)
        self.remaining -= seconds * 1000


class Engine:
    def __init__(self, states):
        self.states = list(states)
        self.polls = 0

    def status(self, query_id):
        self.polls += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return QueryStatus(state, "boom" if state == "FAILED" else "")


def test_returns_the_final_status_after_backing_off():
    clock = Clock(600_000)
    engine = Engine(["QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"])
    status = wait_for_query(engine, "q", Deadline(clock.remaining_ms, sleep=clock.sleep))
    assert status.succeeded
    assert engine.polls == 5
    assert len(clock.sleeps) == 4
    assert all(s <= MAX_DELAY_S for s in clock.sleeps)
    assert max(clock.sleeps) > min(clock.sleeps)  # the delay grows


def test_a_failed_query_is_reported_with_its_reason():
    clock = Clock(600_000)
    status = wait_for_query(
        Engine(["FAILED"]), "q", Deadline(clock.remaining_ms, sleep=clock.sleep)
    )
    assert (status.state, status.reason, status.succeeded) == ("FAILED", "boom", False)
    assert clock.sleeps == []


def test_gives_up_before_the_reserve_and_never_sleeps_past_it():
    clock = Clock(20_000)
    deadline = Deadline(clock.remaining_ms, reserve_ms=5_000, sleep=clock.sleep)
    assert wait_for_query(Engine(["RUNNING"]), "q", deadline) is None
    assert clock.remaining >= 5_000 - 1  # the reserve is left for recording state
    assert sum(clock.sleeps) <= 15.0 + 1e-6


def test_no_time_at_all_means_one_look_and_no_sleep():
    clock = Clock(4_000)
    deadline = Deadline(clock.remaining_ms, reserve_ms=5_000, sleep=clock.sleep)
    assert deadline.expired()
    assert wait_for_query(Engine(["RUNNING"]), "q", deadline) is None
    assert clock.sleeps == []


def test_request_tokens_are_stable_per_step_attempt_and_within_athena_limits():
    a = request_token("batch", "ctas:2026-11-22", "0")
    assert a == request_token("batch", "ctas:2026-11-22", "0")
    assert a != request_token("batch", "ctas:2026-11-22", "1")
    assert 32 <= len(a) <= 128
