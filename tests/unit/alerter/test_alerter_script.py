"""`scripts/alert-thresholds` from a fresh shell: it runs with the repository's virtualenv, and
says what to do when there is none."""

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "alert-thresholds"
FRESH_SHELL = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin"}


def test_the_script_runs_without_an_activated_virtualenv(tmp_path):
    done = subprocess.run(
        [str(SCRIPT), "--help"],
        env=FRESH_SHELL,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: alert-thresholds")


def test_without_the_virtualenv_it_says_how_to_make_it(tmp_path):
    (tmp_path / "scripts").mkdir()
    copy = tmp_path / "scripts" / "alert-thresholds"
    shutil.copy2(SCRIPT, copy)
    done = subprocess.run(
        [str(copy), "list"], env=FRESH_SHELL, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"alert-thresholds: no virtualenv at {tmp_path}/.venv (it has boto3); make it with "
        f"`make setup` in {tmp_path}\n"
    )
