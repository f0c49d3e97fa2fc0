"""Run the checks in order, print each line as it is known, and sum up.

Clients come from a factory, `clients(service, region)`, so tests hand in clients of a moto
server or stubbed ones. The default factory is a boto3 session: the user's profile, region and
credentials, and the standard `AWS_ENDPOINT_URL` variables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cdk_app.config import PipelineSettings
from cdk_app.preflight import checks
from cdk_app.preflight.checks import Identity, Result, Status
from cdk_app.secure_defaults import search_log_policy_name

ClientFactory = Callable[[str, str | None], BaseClient]
Emit = Callable[[Result], None]

_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=30
)


class SessionClients:
    """boto3 clients of one session, one per service and region."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.session = session
        self._clients: dict[tuple[str, str | None], BaseClient] = {}

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def __call__(self, service: str, region: str | None = None) -> BaseClient:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1], config=_CONFIG)
        return self._clients[key]


def _one_line(text: str, limit: int = 300) -> str:
    """An error message fit for one output line (an HTML error page says nothing useful)."""
    text = " ".join(text.split())
    if text.startswith("<"):
        return ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def guarded(name: str, check: Callable[[], Result]) -> Result:
    """Run a check; an AWS error it did not expect (often a missing read permission) is a WARN:
    the check could not be made, which does not mean the deploy would fail."""
    try:
        return check()
    except ClientError as err:
        code, message = checks.error_code(err), _one_line(checks.error_message(err))
        denied = "Denied" in code or "Unauthorized" in code or "not authorized" in message
        return Result(
            name,
            Status.WARN,
            f"could not check: {code}" + (f": {message}" if message else ""),
            "allow the credentials that read call, or check by hand" if denied else "check by hand",
        )
    except BotoCoreError as err:
        return Result(name, Status.WARN, f"could not check: {_one_line(str(err))}", "check by hand")


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    stopped: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.stopped) or any(r.status is Status.FAIL for r in self.results)

    def summary(self, what: str) -> str:
        counts = {s: sum(r.status is s for r in self.results) for s in Status}
        tally = ", ".join(f"{counts[s]} {s.value}" for s in Status)
        if self.stopped:
            return f"preflight: {tally}; stopped: {self.stopped}"
        if counts[Status.FAIL]:
            return f"preflight: {tally}: not ready for {what}; fix the FAIL lines first"
        if counts[Status.WARN]:
            return f"preflight: {tally}: nothing found that would stop {what}; read the WARN lines"
        return f"preflight: {tally}: ready for {what}"


def _identity(
    clients: ClientFactory, region: str | None, report: Report, emit: Emit
) -> Identity | None:
    try:
        result, identity = checks.check_credentials(clients("sts", region), region)
    except (ClientError, BotoCoreError) as err:
        result, identity = (
            Result(
                "credentials",
                Status.FAIL,
                f"no usable AWS credentials: {err}"[:400],
                "`aws configure` / `aws sso login`, or export AWS_PROFILE or the AWS_* keys",
            ),
            None,
        )
    report.results.append(result)
    emit(result)
    if identity is None:
        report.stopped = "the other checks need credentials and a region"
    return identity


def run_deploy_checks(
    clients: ClientFactory,
    region: str | None,
    settings: PipelineSettings,
    *,
    qualifier: str,
    cdk_out: Path,
    fix: bool,
    emit: Emit,
) -> Report:
    """Everything a first `cdk deploy` of `settings` needs, in the order a person fixes them."""
    report = Report()
    who = _identity(clients, region, report, emit)
    if who is None:
        return report
    stack_id = settings.stack_id()
    template = checks.synthesized_template(cdk_out, stack_id)
    plan: list[tuple[str, Callable[[], Result]]] = [
        (
            "cdk bootstrap",
            lambda: checks.check_bootstrap(
                clients("cloudformation", who.region),
                clients("ssm", who.region),
                account=who.account,
                region=who.region,
                qualifier=qualifier,
                required=checks.required_bootstrap_version(template),
            ),
        ),
        ("region services", lambda: checks.check_region_services(who.region, who.partition)),
        (
            "opensearch offering",
            lambda: checks.check_search_offering(
                clients("opensearch", who.region),
                region=who.region,
                engine_version=settings.search_engine_version,
                instance_type=settings.search_instance_type,
                instance_count=settings.search_instance_count,
            ),
        ),
        (
            "powertools layer",
            lambda: checks.check_powertools_layer(
                clients("lambda", who.region),
                clients("ssm", who.region),
                partition=who.partition,
                region=who.region,
                version=settings.powertools_layer_version,
            ),
        ),
        (
            "opensearch role",
            lambda: checks.check_search_service_linked_role(clients("iam", who.region), fix=fix),
        ),
        (
            "logs policy quota",
            lambda: checks.check_log_resource_policies(
                clients("logs", who.region),
                policy_name=search_log_policy_name(stack_id),
                region=who.region,
            ),
        ),
        (
            "iot endpoint",
            lambda: checks.check_iot_endpoint(clients("iot", who.region), region=who.region),
        ),
        (
            "quicksight principal",
            lambda: checks.check_quicksight_principal(
                lambda region: clients("quicksight", region),
                principal_arn=settings.quicksight_principal_arn,
                account=who.account,
            ),
        ),
        (
            "device things",
            lambda: checks.check_device_things(
                clients("iot", who.region),
                clients("cloudformation", who.region),
                device_names=settings.device_names,
                stack_id=stack_id,
            ),
        ),
    ]
    for name, check in plan:
        result = guarded(name, check)
        report.results.append(result)
        emit(result)
    return report


def run_destroy_checks(
    clients: ClientFactory, region: str | None, settings: PipelineSettings, *, emit: Emit
) -> Report:
    """Before `cdk destroy`: the stack is there, and what deleting it keeps."""
    report = Report()
    who = _identity(clients, region, report, emit)
    if who is None:
        return report
    stack_id = settings.stack_id()
    cfn = clients("cloudformation", who.region)
    exists = guarded(
        "stack",
        lambda: checks.check_stack_exists(
            cfn, stack_id=stack_id, account=who.account, region=who.region
        ),
    )
    report.results.append(exists)
    emit(exists)
    if exists.status is Status.FAIL:
        return report
    kept = guarded(
        "kept after destroy",
        lambda: checks.check_retained_resources(
            cfn, stack_id=stack_id, retain_data=settings.retain_data
        ),
    )
    report.results.append(kept)
    emit(kept)
    return report
