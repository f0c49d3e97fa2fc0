"""`python -m device provision`: give this device its identity in AWS IoT Core.

With AWS credentials allowed to call IoT (an administrator's, once, on the Pi or on a laptop):

1. check that the thing and the policy exist (both are created by the CDK stack; `--create-thing`
   creates a missing thing instead);
2. `CreateKeysAndCertificate` (an active certificate and a new key pair; the private key is
   returned only this once);
3. `AttachPolicy` (the policy to the certificate) and `AttachThingPrincipal` (the certificate to
   the thing);
4. write `certificate.pem.crt` and `private.pem.key` with mode 0600 into the output folder
   (created with 0700 before anything is created in AWS), and return the account's
   `iot:Data-ATS` endpoint for `[mqtt] endpoint`.

If a step after 2 fails, the certificate is detached, deactivated and deleted again, so no
orphaned active certificate is left behind. boto3 takes credentials, region and endpoint from the
usual places (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL` for the local cloud).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from device.contract import check_thing_name

log = logging.getLogger(__name__)
CERTIFICATE_FILE = "certificate.pem.crt"
PRIVATE_KEY_FILE = "private.pem.key"


class ProvisionError(Exception):
    """Provisioning could not be done; the message says why and what was cleaned up."""


@dataclass(frozen=True)
class Provisioned:
    thing_name: str
    certificate_arn: str
    certificate_id: str
    certificate: Path
    private_key: Path
    endpoint: str


def write_private(path: Path, data: str) -> None:
    """Write `data` to `path` with mode 0600, also when the file exists already."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode("utf-8"))
    finally:
        os.close(fd)


def _aws_error(err: Exception) -> str:
    if isinstance(err, ClientError):
        e = err.response.get("Error", {})
        return f"{e.get('Code', 'error')}: {e.get('Message', err)}"
    return str(err)


def _require(iot: Any, thing_name: str, policy_name: str, create_thing: bool) -> None:
    try:
        iot.get_policy(policyName=policy_name)
    except ClientError as err:
        raise ProvisionError(
            f"policy {policy_name!r} not found ({_aws_error(err)}); deploy the CDK stack and "
            "pass the device policy name from its outputs"
        ) from err
    try:
        iot.describe_thing(thingName=thing_name)
    except ClientError as err:
        if not create_thing:
            raise ProvisionError(
                f"thing {thing_name!r} not found ({_aws_error(err)}); add it to deviceNames in "
                "cdk.json and deploy, or pass --create-thing"
            ) from err
        iot.create_thing(thingName=thing_name)
        log.info("created thing %s", thing_name)


def _undo(iot: Any, thing_name: str, policy_name: str, cert_arn: str, cert_id: str) -> None:
    """Best-effort removal of a certificate made by a failed provisioning."""
    steps = (
        lambda: iot.detach_thing_principal(thingName=thing_name, principal=cert_arn),
        lambda: iot.detach_policy(policyName=policy_name, target=cert_arn),
        lambda: iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE"),
        lambda: iot.delete_certificate(certificateId=cert_id),
    )
    for step in steps:
        try:
            step()
        except (ClientError, BotoCoreError) as err:
            log.debug("cleanup step failed: %s", _aws_error(err))


def provision(
    thing_name: str,
    policy_name: str,
    out_dir: Path,
    create_thing: bool = False,
    iot: Any | None = None,
) -> Provisioned:
    """Create and attach a certificate for `thing_name`; write its files into `out_dir`."""
    try:
        check_thing_name(thing_name)
    except ValueError as err:
        raise ProvisionError(str(err)) from err
    out_dir = Path(out_dir)
    targets = (out_dir / CERTIFICATE_FILE, out_dir / PRIVATE_KEY_FILE)
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise ProvisionError(
            f"{', '.join(existing)} already exist; move them away first (a device keeps one "
            "identity; a second certificate would be attached to the same thing)"
        )
    iot = iot or boto3.client("iot")
    try:
        _require(iot, thing_name, policy_name, create_thing)
        endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    except (ClientError, BotoCoreError) as err:
        raise ProvisionError(f"AWS IoT call failed: {_aws_error(err)}") from err
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise ProvisionError(f"cannot create {out_dir}: {err}") from err
    try:
        created = iot.create_keys_and_certificate(setAsActive=True)
    except (ClientError, BotoCoreError) as err:
        raise ProvisionError(f"AWS IoT call failed: {_aws_error(err)}") from err
    cert_arn, cert_id = created["certificateArn"], created["certificateId"]
    written: list[Path] = []
    try:
        iot.attach_policy(policyName=policy_name, target=cert_arn)
        iot.attach_thing_principal(thingName=thing_name, principal=cert_arn)
        for path, text in zip(
            targets, (created["certificatePem"], created["keyPair"]["PrivateKey"]), strict=True
        ):
            write_private(path, text)
            written.append(path)
    except (ClientError, BotoCoreError, OSError) as err:
        _undo(iot, thing_name, policy_name, cert_arn, cert_id)
        for path in written:
            path.unlink(missing_ok=True)
        message = _aws_error(err) if not isinstance(err, OSError) else str(err)
        raise ProvisionError(
            f"provisioning failed ({message}); certificate {cert_id} was detached and deleted"
        ) from err
    return Provisioned(
        thing_name=thing_name,
        certificate_arn=cert_arn,
        certificate_id=cert_id,
        certificate=targets[0],
        private_key=targets[1],
        endpoint=endpoint,
    )
