"""`python -m device provision` against the IoT API of a moto server."""

import json
import stat

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from device_harness import run_device

from device.provision import ProvisionError, provision

pytestmark = pytest.mark.integration

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": "arn:aws:iot:*:*:topic/sensors/${iot:Connection.Thing.ThingName}/telemetry",
        }
    ],
}


@pytest.fixture
def iot(aws):
    client = boto3.client("iot")
    client.create_thing(thingName="sensehat-01")
    client.create_policy(policyName="SensorDevicePolicy", policyDocument=json.dumps(POLICY))
    return client


def test_provision_creates_attaches_and_writes_private_files(iot, tmp_path):
    out = tmp_path / "etc"
    result = provision("sensehat-01", "SensorDevicePolicy", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in (result.certificate, result.private_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    x509.load_pem_x509_certificate(result.certificate.read_bytes())
    assert b"PRIVATE KEY" in result.private_key.read_bytes()
    principals = iot.list_thing_principals(thingName="sensehat-01")["principals"]
    assert principals == [result.certificate_arn]
    policies = iot.list_attached_policies(target=result.certificate_arn)["policies"]
    assert [p["policyName"] for p in policies] == ["SensorDevicePolicy"]
    described = iot.describe_certificate(certificateId=result.certificate_id)
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert result.endpoint


def test_the_cli_prints_the_settings_to_use(iot, tmp_path):
    result = run_device(
        "provision",
        "--thing-name",
        "sensehat-01",
        "--policy-name",
        "SensorDevicePolicy",
        "--out-dir",
        str(tmp_path / "etc"),
    )
    assert result.returncode == 0, result.stderr
    assert 'thing_name = "sensehat-01"' in result.stdout
    assert "endpoint = " in result.stdout


def test_a_missing_policy_is_named_and_nothing_is_created(iot, tmp_path):
    with pytest.raises(ProvisionError, match="policy 'NoSuchPolicy' not found"):
        provision("sensehat-01", "NoSuchPolicy", tmp_path / "etc")
    assert iot.list_certificates()["certificates"] == []
    assert not (tmp_path / "etc").exists()


def test_a_missing_thing_is_named_unless_asked_to_create_it(iot, tmp_path):
    with pytest.raises(ProvisionError, match="thing 'kitchen-pi' not found"):
        provision("kitchen-pi", "SensorDevicePolicy", tmp_path / "a")
    result = provision("kitchen-pi", "SensorDevicePolicy", tmp_path / "b", create_thing=True)
    assert iot.list_thing_principals(thingName="kitchen-pi")["principals"] == [
        result.certificate_arn
    ]


class FailsToAttachToThing:
    """The real moto client, except that AttachThingPrincipal fails (fault injection)."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def attach_thing_principal(self, **kwargs):
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "AttachThingPrincipal",
        )


def test_a_failure_after_creating_the_certificate_removes_it(iot, tmp_path):
    with pytest.raises(ProvisionError, match=r"Rate exceeded.*was detached and deleted"):
        provision("sensehat-01", "SensorDevicePolicy", tmp_path, iot=FailsToAttachToThing(iot))
    assert iot.list_certificates()["certificates"] == []
    assert iot.list_thing_principals(thingName="sensehat-01")["principals"] == []
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_output_folder_is_refused_before_anything_is_created(iot, tmp_path):
    blocker = tmp_path / "etc"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(ProvisionError, match="cannot create"):
        provision("sensehat-01", "SensorDevicePolicy", blocker / "sub")
    assert iot.list_certificates()["certificates"] == []


def test_existing_credentials_are_not_overwritten(iot, tmp_path):
    provision("sensehat-01", "SensorDevicePolicy", tmp_path)
    with pytest.raises(ProvisionError, match="already exist"):
        provision("sensehat-01", "SensorDevicePolicy", tmp_path)
