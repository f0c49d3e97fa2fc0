"""The README lists the commands exactly as `make help` prints them, the deploy ones included."""

import re
import subprocess

from cdk_app.preflight.context import ROOT


def test_the_readme_shows_make_help_as_it_is():
    done = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"`make help` lists every command:\n\n```\n(.*?)```", readme, re.S)
    assert block is not None
    assert block.group(1) == done.stdout
    for command in ("preflight", "deploy", "destroy"):
        assert f"  make {command} " in done.stdout
