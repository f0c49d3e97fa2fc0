"""Threshold sets at run time, without a redeploy: `scripts/alert-thresholds <command>`.

    list                      the sets in the threshold table (or which defaults apply)
    show  --device THING [--place PATH]
                              the set each metric of THING is evaluated with, and where it is
                              from; THING's place from the device registry unless given
    set   --device THING|--place PATH|--all --metric M [--warning-high N] [--critical-high N]
          [--warning-low N] [--critical-low N] [--hysteresis N]
    clear --device THING|--place PATH|--all --metric M

A place is `site[/building[/floor[/room]]]` as the device registry (`deviceNames`) names it;
its set applies to every device there, unless a device has its own (the most specific wins).
    state [--device THING]    the current alert level of each device and metric

`list` and `state` print one JSON object a line; on an empty table they say so on stderr
(`list` with the context defaults that apply instead), so their output stays JSON lines.

The tables (and for `show`, the data bucket holding the registry, `devices/devices.json`) are
found, in this order, from `--threshold-table`/`--state-table`, from the
environment (`THRESHOLD_TABLE`, `ALERT_STATE_TABLE`), from an outputs file (`--outputs`, as
written by `cdk deploy --outputs-file` and by the local cloud as `.localcloud/outputs.json`),
or from the deployed stack's outputs (CloudFormation). `show` takes the context defaults from
`cdk.json` (`--context`). A change takes effect within the alerter's cache time
(`alertThresholdCacheSeconds`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3

from alerter.places import DeviceRegistry
from alerter.tables import StateTable, ThresholdTable
from alerter.thresholds import (
    ALL_DEVICES,
    LINES,
    METRICS,
    ThresholdConfig,
    ThresholdError,
    ThresholdSet,
    check_metric,
    place_scope,
    resolve,
)
from alerter.wiring import utc_now

STACK = "SensorPipeline"
OUTPUTS = {"threshold": "AlertThresholdTable", "state": "AlertStateTable", "data": "DataBucket"}
ENVIRONMENT = {"threshold": "THRESHOLD_TABLE", "state": "ALERT_STATE_TABLE", "data": "DATA_BUCKET"}
REGISTRY_KEY = "devices/devices.json"  # the device registry's object (cdk_app/storage.py)


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="alert-thresholds", description="Threshold sets of the sensor pipeline's alerts"
    )
    root.add_argument("--threshold-table", help="the threshold table's name")
    root.add_argument("--state-table", help="the alert state table's name")
    root.add_argument("--outputs", type=Path, help="stack outputs file (cdk --outputs-file)")
    root.add_argument("--stack", default=STACK, help=f"stack name (default {STACK})")
    commands = root.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the sets in the threshold table")
    listing.add_argument("--context", type=Path, default=Path("cdk.json"))
    show = commands.add_parser("show", help="the sets a device is evaluated with")
    show.add_argument("--device", required=True)
    show.add_argument("--place", help="the device's place (default: from the device registry)")
    show.add_argument("--context", type=Path, default=Path("cdk.json"))
    for name in ("set", "clear"):
        command = commands.add_parser(name, help=f"{name} one metric's set")
        scope = command.add_mutually_exclusive_group(required=True)
        scope.add_argument("--device", help="a thing name")
        scope.add_argument("--place", help="site[/building[/floor[/room]]]")
        scope.add_argument("--all", action="store_true", help="every device ('*')")
        command.add_argument("--metric", required=True, choices=METRICS)
        if name == "set":
            for line in (*LINES, "hysteresis"):
                command.add_argument(f"--{_dashed(line)}", dest=line, type=float, metavar="N")
    state = commands.add_parser("state", help="current alert levels")
    state.add_argument("--device")
    return root


def _dashed(camel: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in camel)


def find_table(args: argparse.Namespace, kind: str, cloudformation: Callable[[], Any]) -> str:
    given = getattr(args, f"{kind}_table", None)
    if given:
        return str(given)
    if os.environ.get(ENVIRONMENT[kind]):
        return os.environ[ENVIRONMENT[kind]]
    output = OUTPUTS[kind]
    if args.outputs is not None:
        try:
            outputs = json.loads(args.outputs.read_text(encoding="utf-8"))
            return str(outputs[args.stack][output])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CliError(f"{args.outputs}: no output {args.stack}.{output} ({err})") from err
    try:
        stack = cloudformation().describe_stacks(StackName=args.stack)["Stacks"][0]
    except Exception as err:
        raise CliError(
            f"cannot find the {kind} table: pass --{kind}-table, set {ENVIRONMENT[kind]}, "
            f"or --outputs; the stack {args.stack} could not be read ({err})"
        ) from err
    for item in stack.get("Outputs", []):
        if item["OutputKey"] == output:
            return str(item["OutputValue"])
    raise CliError(f"stack {args.stack} has no output {output}: is it deployed with alerts?")


def run(
    args: argparse.Namespace,
    dynamodb: Any,
    cloudformation: Callable[[], Any],
    s3: Callable[[], Any] = lambda: boto3.client("s3"),
) -> list[str]:
    """Carry out one command; the lines to print (an empty `list` or `state`: nothing, see
    `empty_note`)."""
    scope = ALL_DEVICES if getattr(args, "all", False) else getattr(args, "device", None)
    if args.command in ("set", "clear") and args.place is not None:
        scope = place_scope(args.place, "--place")
    if args.command == "state":
        table = StateTable(dynamodb, find_table(args, "state", cloudformation))
        return [json.dumps(item, sort_keys=True) for item in table.items(args.device)]
    thresholds = ThresholdTable(dynamodb, find_table(args, "threshold", cloudformation))
    if args.command == "list":
        return [json.dumps(item, sort_keys=True) for item in thresholds.items()]
    if args.command == "show":
        context = _context_thresholds(args.context)
        table = thresholds.config()
        lines = [f"skipped table item: {reason}" for reason in thresholds.skipped]
        place, where = args.place, "(given)"
        if place is None:
            place, where = _registered_place(args, cloudformation, s3, lines)
        else:
            place_scope(place, "--place")
        lines.append(f"{'place':16s} {place or '(none)'}  {where}")
        for metric in METRICS:
            found = resolve(args.device, metric, table, context, place)
            text = "not evaluated" if found is None else _describe(found.threshold_set)
            source = "" if found is None else f"  ({found.source})"
            lines.append(f"{metric:16s} {text}{source}")
        return lines
    check_metric(args.metric, "--metric")
    if args.command == "set":
        values = {line: getattr(args, line) for line in (*LINES, "hysteresis")}
        where = f"{scope}/{args.metric}"
        threshold_set = ThresholdSet.from_mapping(
            {k: v for k, v in values.items() if v is not None}, where
        )
        thresholds.put(scope, args.metric, threshold_set, utc_now())
        return [f"set {where}: {_describe(threshold_set)}"]
    removed = thresholds.delete(scope, args.metric)
    return [f"cleared {scope}/{args.metric}" if removed else f"{scope}/{args.metric}: no set"]


def _registered_place(
    args: argparse.Namespace,
    cloudformation: Callable[[], Any],
    s3: Callable[[], Any],
    lines: list[str],
) -> tuple[str | None, str]:
    """The device's place in the device registry, and where it came from (for `show`)."""
    try:
        bucket = find_table(args, "data", cloudformation)
    except CliError as err:
        return None, f"(device registry not found, pass --place: {err})"
    registry = DeviceRegistry(s3(), bucket, REGISTRY_KEY)
    place = registry.place_of(args.device)
    lines += [f"skipped registry line: {reason}" for reason in registry.skipped]
    return place, f"(device registry s3://{bucket}/{REGISTRY_KEY})"


def empty_note(args: argparse.Namespace) -> list[str]:
    """What an empty `list` or `state` means, for a person (printed on stderr)."""
    if args.command == "state":
        device = f" for {args.device}" if args.device else ""
        return [
            f"no alert state yet{device}: no alert has been raised, every metric is normal "
            "(a device and metric appear here from their first alert)"
        ]
    if args.command != "list":
        return []
    lines = ["no thresholds set in the threshold table; the context defaults apply"]
    try:
        context = _context_thresholds(args.context)
    except (CliError, ThresholdError) as err:
        return [*lines, f"  (cannot show them: {err}; pass --context path/to/cdk.json)"]
    lines[0] += f" ({args.context}, alertThresholds):"
    for (scope, metric), threshold_set in sorted(context.sets.items()):
        lines.append(f"  {scope}/{metric}: {_describe(threshold_set)}")
    if not context.sets:
        lines.append("  none: no metric is evaluated")
    return lines


def _context_thresholds(path: Path) -> ThresholdConfig:
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read the context defaults from {path}: {err}") from err
    return ThresholdConfig.from_context(context.get("alertThresholds", {}))


def _describe(threshold_set: ThresholdSet) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in threshold_set.as_mapping().items())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        lines = run(args, boto3.client("dynamodb"), lambda: boto3.client("cloudformation"))
        for line in lines:
            print(line)
        if not lines:
            for line in empty_note(args):
                print(line, file=sys.stderr)
    except (CliError, ThresholdError) as err:
        print(f"alert-thresholds: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
