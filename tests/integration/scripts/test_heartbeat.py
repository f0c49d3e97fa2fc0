"""scripts/heartbeat: a silent step of `make setup`/`make synth` still shows a line every 8 s,
and the step's exit status is make's."""

import subprocess
from pathlib import Path

HEARTBEAT = Path(__file__).resolve().parents[3] / "scripts" / "heartbeat"


def test_a_silent_step_shows_that_it_is_still_running_and_keeps_its_status():
    done = subprocess.run(
        [str(HEARTBEAT), "installing things", "bash", "-c", "sleep 9; echo finished; exit 4"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "    ... still installing things: 8 s"
    assert lines[-1] == "finished"
    assert done.returncode == 4


def test_a_quick_step_prints_only_its_own_output():
    done = subprocess.run(
        [str(HEARTBEAT), "synthesizing", "echo", "quick"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == "quick\n"
