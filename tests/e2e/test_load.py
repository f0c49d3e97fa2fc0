"""`python -m localcloud load`: a small fleet, each device its own certificate, connection and
spool, through the whole pipeline; the LOAD line accounts for every reading."""

from __future__ import annotations

import os
import re

import pytest

import demo.load

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_small_fleet_is_delivered_and_compacted_exactly_once(tmp_path, capsys):
    saved = dict(os.environ)
    try:
        code = demo.load.main(devices=3, rate_hz=5, minutes=0.2, state_dir=tmp_path / "load")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("LOAD ")]
    assert len(lines) == 1, out[-3000:]
    fields = dict(re.findall(r"(\w+)=([\d.]+)", lines[0]))
    assert code == 0, lines[0]
    assert fields["devices"] == "3"
    expected = str(3 * 5 * 12)  # 3 devices x 5 Hz x 12 s
    for name in ("sent", "raw", "compacted", "search"):
        assert fields[name] == expected, lines[0]
    assert fields["lost"] == "0" and fields["duplicates"] == "0"
    assert float(fields["readings_per_s"]) > 0
    assert re.search(r"\] sent \d+/180  raw \d+", out), "no progress line while it ran"
