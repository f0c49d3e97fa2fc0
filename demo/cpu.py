"""The CPU time of a load run's processes, by part of the pipeline.

`CpuMeter.sample()` reads `/proc` (Linux) for a process (this one) and every process below it
and keeps each one's latest user+system time, so a process that has ended still counts with what
it had used at the last sample. `report(readings)` samples once more and says, per part, the CPU
seconds and the CPU milliseconds each reading cost: what bounds the readings/s a machine of N
cores can carry. On a system without `/proc` the report says so and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")

# The first marker found in a process's command line names its part; the rest is "other".
PARTS: tuple[tuple[str, str], ...] = (
    ("demo.fleet", "devices (publisher, spool, MQTT)"),
    ("kinesalite", "Kinesis (kinesalite)"),
    ("localcloud.moto", "moto (S3, DynamoDB, SQS, IAM)"),
    ("localcloud.iot.engine_process", "IoT rule engine"),
    ("mosquitto", "MQTT broker (mosquitto)"),
    ("lambda_/worker.py", "Lambda functions"),
)
ROOT_PART = "local cloud (Firehose, OpenSearch, Athena) and the run's accounting"


class CpuMeter:
    """CPU time used from the meter's creation on: what a process had used before is not
    counted (the synth's Node process, the local cloud's start)."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root if root is not None else os.getpid()
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.before = self._now()  # pid: CPU seconds at creation
        self.used: dict[int, tuple[str, float]] = {}  # pid: (part, CPU seconds since)

    @property
    def available(self) -> bool:
        return (PROC / str(self.root) / "stat").is_file()

    def sample(self) -> None:
        """Record the CPU time of the root and of every process below it, now."""
        for pid, seconds in self._now().items():
            known = self.used.get(pid, ("",))[0]
            part = known or (ROOT_PART if pid == self.root else part_of(pid))
            self.used[pid] = (part, seconds - self.before.get(pid, 0.0))

    def _now(self) -> dict[int, float]:
        """CPU seconds of the root and of every process below it."""
        if not self.available:
            return {}
        stats = dict(filter(None, (read_stat(entry) for entry in PROC.iterdir())))
        below = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, (parent, _) in stats.items():
                if parent in below and pid not in below:
                    below.add(pid)
                    grew = True
        return {pid: stats[pid][1] / self.ticks for pid in below & stats.keys()}

    def by_part(self) -> dict[str, float]:
        """CPU seconds per part, largest first."""
        totals: dict[str, float] = {}
        for part, seconds in self.used.values():
            name = part or "other (ended)"
            totals[name] = totals.get(name, 0.0) + seconds
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def report(self, readings: int) -> list[str]:
        """A line for the whole run, then one per part (sampled now)."""
        self.sample()
        if not self.used:
            return ["CPU by part: not measured (no /proc on this system)"]
        parts = self.by_part()
        total = sum(parts.values())
        per = max(readings, 1)
        lines = [f"CPU by part over the run: {total:.0f} s, {1000 * total / per:.2f} ms a reading"]
        lines += [
            f"  {seconds:7.1f} s  {1000 * seconds / per:5.2f} ms a reading  {part}"
            for part, seconds in parts.items()
        ]
        return lines


def read_stat(entry: Path) -> tuple[int, tuple[int, int]] | None:
    """(pid, (parent pid, user+system ticks)) of a /proc entry, or None."""
    if not entry.name.isdigit():
        return None
    try:
        text = (entry / "stat").read_text()
    except OSError:  # ended meanwhile
        return None
    # The command name is in parentheses and may hold spaces: the fields follow the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return int(entry.name), (int(fields[1]), int(fields[11]) + int(fields[12]))


def part_of(pid: int) -> str:
    """The part a process belongs to, `other (<its program>)`, or "" when it has ended (a
    process that has exited has no command line; the part seen before stays)."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return ""
    if not argv[0]:
        return ""
    command = " ".join(argv)
    for marker, part in PARTS:
        if marker in command:
            return part
    return f"other ({Path(argv[0]).name})"
