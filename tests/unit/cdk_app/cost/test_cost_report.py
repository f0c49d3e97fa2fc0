"""`make cost`: a line per service, one COST line per fleet size, the goals."""

import re

from cdk_app.cost.__main__ import main
from tests.unit.cdk_app.support import ROOT

COST_LINE = re.compile(
    r"^COST profile=(\w+) devices=(\d+) rate_hz=([\d.]+) "
    r"idle_usd_month=(\d+\.\d\d) per_device_usd_month=(\d+\.\d\d)$",
    re.M,
)


def test_make_cost_prints_a_cost_line_per_fleet_size(capsys):
    assert main(["-c", "profile=fleet", "--rate-hz", "0.5", "--devices", "1,1000"]) == 0
    out = capsys.readouterr().out
    lines = COST_LINE.findall(out)
    assert [(p, d, r) for p, d, r, _, _ in lines] == [
        ("fleet", "1", "0.5"),
        ("fleet", "1000", "0.5"),
    ]
    assert len({idle for *_, idle, _ in lines}) == 1  # one idle cost for every fleet size
    for service in ("IoT Core", "Kinesis Data Streams", "Data Firehose", "OpenSearch", "Athena"):
        assert re.search(rf"^{service} +[\d,.]+ +[\d,.]+ +[\d,.]+$", out, re.M), service
    assert "GOAL fleet at most $2 per device-month at 1,000 devices" in out


def test_a_bad_setting_is_refused_with_its_name(capsys):
    assert main(["-c", "profile=huge"]) == 2
    assert "'profile' must be one of" in capsys.readouterr().err


def _readme_block(label: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(label) + r".*?\n```\n(.*?)```", readme, re.S)
    assert found is not None, f"README has no table after {label}"
    return found.group(1)


def test_the_readme_quotes_both_profiles_as_make_cost_prints_them(capsys):
    for label, args in (("**Small profile**", []), ("**Fleet profile**", ["-c", "profile=fleet"])):
        assert main(args) == 0
        assert _readme_block(label) == capsys.readouterr().out, (
            f"README's {label} table is not what `make cost` prints now: paste it again"
        )
