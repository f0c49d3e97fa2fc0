"""`python -m cdk_app.preflight [-c key=value ...] [--profile NAME] [--fix] [--destroy]`

Checks the account and region a `cdk deploy` (or, with --destroy, a `cdk destroy`) with the same
arguments would use, before anything is created. One line per check; exit 1 if any check
FAILs. Arguments meant for cdk alone (e.g. `--hotswap`) are named and ignored, so `make deploy`
can hand the same ARGS to both.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# jsii (under cdk_app.config) prints a banner on Node 20; the Makefile sets this too.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import boto3

from cdk_app.config import SettingError
from cdk_app.preflight.checks import Result, Status
from cdk_app.preflight.context import (
    CDK_OUT,
    ContextArgumentError,
    load_context,
    parse_overrides,
)
from cdk_app.preflight.runner import (
    SessionClients,
    run_deploy_checks,
    run_destroy_checks,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cdk_app.preflight",
        description="Check an AWS account and region before `cdk deploy` creates anything.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting over cdk.json's, as for cdk",
    )
    parser.add_argument("--profile", help="the AWS profile (as for cdk)")
    parser.add_argument(
        "--fix", action="store_true", help="create OpenSearch's service-linked role if missing"
    )
    parser.add_argument(
        "--destroy",
        action="store_true",
        help="check before `cdk destroy`: the stack exists, and what deleting it keeps",
    )
    parser.add_argument(
        "--cdk-out",
        type=Path,
        default=CDK_OUT,
        help="synthesized templates, for the bootstrap version they need (default cdk.out)",
    )
    return parser


def _print(result: Result) -> None:
    print(result.line(), flush=True)


def main(argv: Sequence[str] | None = None, clients: SessionClients | None = None) -> int:
    """Exit status 0 when no check FAILs, 1 otherwise (2: bad arguments)."""
    args, for_cdk = build_parser().parse_known_args(argv)
    if for_cdk:
        print(f"(for cdk only, not used by the preflight: {' '.join(for_cdk)})")
    try:
        context = load_context(parse_overrides(args.context))
        settings = context.settings()
    except (ContextArgumentError, SettingError) as err:
        _print(Result("settings", Status.FAIL, str(err), "fix cdk.json or the -c argument"))
        return 1
    if clients is None:
        clients = SessionClients(boto3.session.Session(profile_name=args.profile))
    region = clients.region
    overrides = " ".join(f"-c {k}={v}" for k, v in context.overrides.items())
    what = "cdk destroy" if args.destroy else "cdk deploy"
    print(
        f"Preflight for `{what}` of stack {settings.stack_id()} in region {region or '(none)'}"
        f" (settings: cdk.json{', ' + overrides if overrides else ''}); nothing is created"
        f"{' except the service-linked role (--fix)' if args.fix and not args.destroy else ''}:",
        flush=True,
    )
    if args.destroy:
        report = run_destroy_checks(clients, region, settings, emit=_print)
    else:
        report = run_deploy_checks(
            clients,
            region,
            settings,
            qualifier=context.bootstrap_qualifier(),
            cdk_out=args.cdk_out,
            fix=args.fix,
            emit=_print,
        )
    print(report.summary(what), flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
