"""The README's fleet commands, as written, from a fresh shell: a local cloud started with the
block's `make up ARGS=...` settings (two devices in two rooms), each device publishing with the
config the local cloud wrote for it, and the by-place query over what they published."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from demo.run import synthesize
from localcloud.cloud import STACK, LocalCloud

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def readme_fleet_block() -> tuple[dict[str, str], str]:
    """The context of the block's `make up ARGS="..."` and the commands up to `make down`."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r'```bash\nmake up ARGS="([^"]*)"\n(.*?)make down\n```', readme, re.S)
    assert block is not None, "the README's fleet example is gone"
    words = shlex.split(block.group(1))
    assert words[::2] == ["-c"] * (len(words) // 2)
    context = dict(word.split("=", 1) for word in words[1::2])
    return context, block.group(2)


def test_the_readme_fleet_commands_run_as_written(tmp_path):
    context, commands = readme_fleet_block()
    synthesize(tmp_path / "cdk.out", context)
    cloud = LocalCloud(tmp_path / "cloud", tmp_path / "cdk.out", STACK, log=lambda _line: None)
    repo = tmp_path / "repo"  # laid out as the repository after `make up`
    repo.mkdir()
    (repo / ".localcloud").symlink_to(tmp_path / "cloud")
    (repo / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (repo / "athena").symlink_to(ROOT / "athena")
    try:
        cloud.start()
        done = subprocess.run(
            ["bash", "-e", "-c", commands],
            cwd=repo,
            env={
                "HOME": os.environ.get("HOME", "/root"),
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(ROOT),  # `python -m device` from the repository
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        cloud.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 readings published" in done.stderr
    assert done.stdout.startswith("SUCCEEDED\n"), done.stdout  # the query, before its rows
    header, *rows = table_rows(done.stdout)
    assert header[5:8] == ["period_start", "devices", "readings"]
    readings: dict[tuple[str, str], int] = {}
    for row in rows:  # summed over the hours (a run may cross one)
        key = (row[0], row[4] or row[3] or row[2] or row[1])
        readings[key] = readings.get(key, 0) + int(row[7])
    assert readings == {
        ("room", "kitchen"): 20,
        ("room", "lab"): 20,
        ("floor", "0"): 20,
        ("floor", "1"): 20,
        ("building", "main"): 40,
        ("site", "home"): 40,
    }


def table_rows(text: str) -> list[list[str]]:
    """The rows of `aws athena get-query-results --output table`: each row's values one a line
    below a `VarCharValue` heading, between two rule lines."""
    rows: list[list[str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if re.fullmatch(r"\|{4}\s+VarCharValue\s+\|{4}", line):
            next(lines)  # the rule under the heading
            values = []
            for value in lines:
                if value.startswith("|||+"):
                    break
                values.append(value.strip("|").strip())
            rows.append(values)
    return rows
