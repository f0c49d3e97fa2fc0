"""`make cost ARGS="-c profile=fleet --rate-hz 1"`: the monthly cost of the stack as configured.

The template is synthesized in-process from cdk.json's context with each `-c key=value` on top
(as `cdk synth` does), or read from `--cdk-out` (a `cdk synth` output folder).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cdk_app.config import SettingError
from cdk_app.cost.model import FLEET_SIZES, estimate
from cdk_app.cost.prices import load_prices
from cdk_app.cost.report import render
from cdk_app.cost.synth import read_template, synthesize
from cdk_app.preflight.context import ContextArgumentError, load_context, parse_overrides


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cdk_app.cost", description=__doc__)
    parser.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE",
        help="a setting over cdk.json's, as for cdk (e.g. -c profile=fleet)",
    )  # fmt: skip
    parser.add_argument("--rate-hz", type=float, default=1.0, help="readings per second per device")
    parser.add_argument(
        "--devices", default=",".join(str(n) for n in FLEET_SIZES),
        help="fleet sizes, comma-separated",
    )  # fmt: skip
    parser.add_argument("--cdk-out", type=Path, help="read the template from this cdk.out folder")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        context = load_context(parse_overrides(args.context))
        settings = context.settings()
        fleet_sizes = [int(n) for n in args.devices.split(",")]
    except (ContextArgumentError, SettingError, ValueError) as err:
        print(f"cost: {err}", file=sys.stderr)
        return 2
    if args.rate_hz <= 0 or any(n < 1 for n in fleet_sizes):
        print("cost: --rate-hz must be > 0 and every fleet size at least 1", file=sys.stderr)
        return 2
    template = (
        read_template(args.cdk_out, settings.stack_id())
        if args.cdk_out
        else synthesize(dict(context.values))
    )
    prices = load_prices()
    print(render(estimate(template, settings, prices, args.rate_hz, fleet_sizes), prices))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
