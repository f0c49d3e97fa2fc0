"""`python -m cdk_app.preflight.outputs FILE [-c key=value ...]`: after `cdk deploy`, print the
stack's outputs (from the file `cdk deploy --outputs-file FILE` wrote) and the next step,
provisioning each device of `deviceNames` (device/README.md, "Install on a Raspberry Pi").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from cdk_app.config import PipelineSettings, SettingError
from cdk_app.preflight.context import ContextArgumentError, load_context, parse_overrides

# The device's own defaults (device/README.md): installed under /opt, settings in /etc.
DEVICE_HOME = "/opt/sensehat-publisher"
DEVICE_FOLDER = "/etc/sensehat-publisher"


class OutputsError(ValueError):
    """The outputs file is missing or does not hold the stack."""


def stack_outputs(path: Path, stack_id: str) -> dict[str, str]:
    """The outputs of `stack_id` in a `cdk deploy --outputs-file` file ({stack: {key: value}})."""
    if not path.is_file():
        raise OutputsError(f"{path} does not exist (did `cdk deploy` finish?)")
    every_stack = json.loads(path.read_text())
    if stack_id not in every_stack:
        found = ", ".join(sorted(every_stack)) or "none"
        raise OutputsError(f"{path} has no outputs of {stack_id} (stacks in it: {found})")
    return {str(k): str(v) for k, v in every_stack[stack_id].items()}


def describe(outputs: Mapping[str, str], settings: PipelineSettings, path: Path) -> list[str]:
    """The lines to print: the outputs, then how to provision each device."""
    width = max((len(key) for key in outputs), default=0)
    lines = [f"Stack {settings.stack_id()} is deployed. Its outputs (also in {path}):"]
    lines += [f"  {key:<{width}}  {value}" for key, value in sorted(outputs.items())]
    policy = outputs.get("DevicePolicy", "<DevicePolicy from the outputs>")
    lines += [
        "",
        "Next: give each device its certificate (device/README.md, Install on a Raspberry Pi, "
        "step 4; steps 1-2 install the code, step 3 is this deploy). With AWS credentials for "
        "this account, on each Pi (or on a laptop, then copy the two files over):",
        f"  cd {DEVICE_HOME}",
    ]
    lines += [
        f"  sudo -E venv/bin/sensehat-publisher provision --thing-name {name} "
        f"--policy-name {policy} --out-dir {DEVICE_FOLDER}"
        for name in settings.device_names
    ]
    lines.append(
        "then steps 5-7: Amazon's root CA, config.toml (thing_name and the endpoint `provision` "
        "prints), the service."
    )
    if "TelemetryTopic" in outputs:
        # The publisher's default is the default stack's; another stage has its own rule.
        lines.append(
            f'The devices publish to [mqtt] topic = "{outputs["TelemetryTopic"]}" '
            "(Basic Ingest to this stack's rule; the publisher's default is the default stage's)."
        )
    if "DashboardsTunnelInstance" in outputs:
        lines.append(
            "OpenSearch Dashboards: README, 'OpenSearch Dashboards from a laptop' "
            f"(STACK={settings.stack_id()})."
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cdk_app.preflight.outputs",
        description="Print a deployed stack's outputs and the next step.",
        allow_abbrev=False,
    )
    parser.add_argument("file", type=Path, help="the file of `cdk deploy --outputs-file`")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    args, _for_cdk = parser.parse_known_args(argv)
    try:
        settings = load_context(parse_overrides(args.context)).settings()
        outputs = stack_outputs(args.file, settings.stack_id())
    except (ContextArgumentError, SettingError, OutputsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(describe(outputs, settings, args.file)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
