"""What the demo says while a person waits.

- `Narrator`: the step the demo is in (`with narrator.step("synthesizing ...", expected_s=60)`)
  and, whenever nothing has been said for `every` seconds, a heartbeat line naming what is
  waited for, for how long so far, and about how long it may take (or how long is left, when the
  step can tell: "waiting for the compaction tail: 20 s so far, up to 43 s left").
- `Bars`: publishing, delivery and compaction counts as tqdm progress bars at a terminal; one
  plain line per update elsewhere (CI logs, pipes), which keep every count readable.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from tqdm import tqdm


@dataclass(frozen=True)
class Step:
    what: str
    started: float
    expected_s: float | None = None
    left: Callable[[], float | None] | None = None  # seconds left, when the step can tell


class Narrator:
    """Heartbeat lines for the demo's quiet steps; `said()` is called for every line printed."""

    def __init__(
        self,
        say: Callable[[str], None],
        every: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say, self.every, self.clock = say, every, clock
        self._last = clock()
        self._step: Step | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def said(self) -> None:
        self._last = self.clock()

    @contextmanager
    def step(
        self,
        what: str,
        expected_s: float | None = None,
        left: Callable[[], float | None] | None = None,
    ) -> Iterator[None]:
        """Within the block, heartbeats name `what`."""
        outer, self._step = self._step, Step(what, self.clock(), expected_s, left)
        try:
            yield
        finally:
            self._step = outer

    def phase(self, what: str, left: Callable[[], float | None] | None = None) -> None:
        """Within a step, what is waited for now (its time counts from its first call)."""
        if self._step is None or self._step.what != what:
            self._step = Step(what, self.clock(), None, left)

    def beat(self) -> str | None:
        """The heartbeat line that is due now, if one is."""
        step, now = self._step, self.clock()
        if step is None or now - self._last < self.every:
            return None
        so_far = f"{step.what}: {now - step.started:.0f} s so far"
        left = step.left() if step.left else None
        if left is not None:
            return f"{so_far}, up to {left:.0f} s left" if left >= 1 else f"{so_far}, any moment"
        if step.expected_s is None:
            return so_far
        if now - step.started <= step.expected_s:
            return f"{so_far}, usually about {step.expected_s:.0f} s"
        return f"{so_far}, longer than the usual {step.expected_s:.0f} s (a busy machine?)"

    def start(self) -> Narrator:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demo-heartbeat", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """No more heartbeats (before the demo says it stops)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            line = self.beat()
            if line is not None:
                self._say(line)
                self.said()


class Bars:
    """Counts towards `total` (`names[0]` first): tqdm bars at a terminal, else plain lines."""

    def __init__(
        self,
        names: Sequence[str],
        total: int,
        say: Callable[[str], None],
        stream: IO[str] | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.names, self.total, self._say = list(names), total, say
        stream = stream or sys.stdout
        at_terminal = stream.isatty() if terminal is None else terminal
        self._bars = (
            {
                name: tqdm(total=total, desc=f"{name:>10}", unit=" readings", file=stream)
                for name in self.names
            }
            if at_terminal
            else {}
        )

    def update(self, counts: Mapping[str, int], note: str) -> None:
        if not self._bars:
            first, *rest = self.names
            parts = [f"{first} {counts[first]}/{self.total}"]
            self._say(
                "  ".join(parts + [f"{name} {counts[name]}" for name in rest]) + f"  ({note})"
            )
            return
        for name, bar in self._bars.items():
            bar.update(counts[name] - bar.n)
        self._bars[self.names[-1]].set_postfix_str(note)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars = {}
