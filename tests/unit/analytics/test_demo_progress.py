"""What the demo says while a person waits: a heartbeat naming the step after a quiet spell
(with the time so far and the usual or remaining time), and the counts as progress bars at a
terminal or as plain lines in a log. A fake clock drives the heartbeat: nothing here is timed."""

import io

from compactor.service import COMPACT_PENDING
from demo.progress import Bars, Narrator
from demo.run import COMPACT_PENDING as ASKED
from demo.run import COMPACTOR_HANDLER


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def narrator(clock: Clock) -> tuple[Narrator, list[str]]:
    said: list[str] = []
    return Narrator(said.append, every=8, clock=clock), said


def test_a_quiet_step_gets_a_heartbeat_with_its_name_and_how_long_it_usually_takes():
    clock = Clock()
    beats, _ = narrator(clock)
    with beats.step("synthesizing the CDK app (cdk synth)", expected_s=60):
        clock.now += 5
        assert beats.beat() is None  # said something less than 8 s ago
        clock.now += 4
        assert (
            beats.beat() == "synthesizing the CDK app (cdk synth): 9 s so far, usually about 60 s"
        )
        beats.said()  # the line was printed
        assert beats.beat() is None
        clock.now += 70
        assert beats.beat() == (
            "synthesizing the CDK app (cdk synth): 79 s so far, longer than the usual 60 s "
            "(a busy machine?)"
        )
    clock.now += 30
    assert beats.beat() is None  # outside any step the demo is not waiting


def test_a_wait_that_can_tell_its_time_left_says_it():
    clock = Clock()
    beats, _ = narrator(clock)
    deadline = clock.now + 50
    with beats.step("following the pipeline"):
        beats.phase("waiting for the compaction tail", left=lambda: max(deadline - clock(), 0))
        clock.now += 9
        assert beats.beat() == "waiting for the compaction tail: 9 s so far, up to 41 s left"
        beats.phase("waiting for the compaction tail")  # the same phase keeps its start
        clock.now += 45
        assert beats.beat() == "waiting for the compaction tail: 54 s so far, any moment"
        beats.phase("waiting for the alerter")
        assert beats.beat() == "waiting for the alerter: 0 s so far"


def wait_until_said(beats, said):
    """Wait (at most 5 s) for the heartbeat thread to say its first line."""
    for _ in range(100):
        if said:
            break
        beats._stop.wait(0.05)


def test_the_heartbeat_thread_says_the_due_line():
    clock = Clock()
    beats, said = narrator(clock)
    beats.every = 0
    with beats.step("drawing the report", expected_s=30):
        beats.start()
        try:
            wait_until_said(beats, said)
        finally:
            beats.close()
    assert said and said[0] == "drawing the report: 0 s so far, usually about 30 s"


def test_a_heartbeat_counts_as_said_so_the_next_one_waits_its_turn():
    clock = Clock()
    beats, said = narrator(clock)
    with beats.step("starting the local cloud", expected_s=30):
        clock.now += 9
        beats.start()
        try:
            wait_until_said(beats, said)
            beats._stop.wait(1.5)  # the thread looks once a second; the clock stands still
        finally:
            beats.close()
    assert said == ["starting the local cloud: 9 s so far, usually about 30 s"]


def test_counts_are_plain_lines_in_a_log():
    lines: list[str] = []
    bars = Bars(("published", "raw", "compacted"), 100, lines.append, io.StringIO(), terminal=False)
    bars.update({"published": 40, "raw": 10, "compacted": 0}, "publisher running")
    bars.close()
    assert lines == ["published 40/100  raw 10  compacted 0  (publisher running)"]


def test_counts_are_progress_bars_at_a_terminal():
    lines: list[str] = []
    screen = io.StringIO()
    bars = Bars(("published", "raw"), 200, lines.append, screen, terminal=True)
    bars.update({"published": 200, "raw": 50}, "publisher done; waiting for Firehose delivery")
    bars.update({"published": 200, "raw": 150}, "publisher done; waiting for Firehose delivery")
    bars.close()
    shown = screen.getvalue()
    assert lines == []
    assert "published: 100%" in shown and "200/200" in shown
    assert "raw:  75%" in shown and "150/200" in shown
    assert "waiting for Firehose delivery" in shown


def test_the_demo_asks_the_compactor_with_the_event_the_compactor_knows():

    assert ASKED == COMPACT_PENDING
    assert COMPACTOR_HANDLER == "compactor.handler.lambda_handler"
