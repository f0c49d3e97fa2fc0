"""The local CA and the mosquitto broker: mutual TLS, identities, ACL, message size."""

import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from device_harness import run_device, write_config

from localcloud.iot.broker import MosquittoBroker
from localcloud.iot.ca import LocalCA

pytestmark = pytest.mark.integration


def test_device_certificate_names_the_thing_and_keeps_the_key_private(ca):
    creds = ca.issue_device_certificate("sensehat-01")
    cert = x509.load_pem_x509_certificate(creds.certificate.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sensehat-01"
    assert cert.issuer == x509.load_pem_x509_certificate(ca.certificate_path.read_bytes()).subject
    assert stat.S_IMODE(creds.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca.key_path.stat().st_mode) == 0o600
    assert len(creds.certificate_id) == 64


def test_the_ca_is_loaded_not_replaced(tmp_path):
    first = LocalCA(tmp_path / "ca")
    again = LocalCA(tmp_path / "ca")
    assert again.certificate_path.read_bytes() == first.certificate_path.read_bytes()
    (tmp_path / "ca" / "ca.key").unlink()
    with pytest.raises(FileNotFoundError, match=r"ca\.key is missing"):
        LocalCA(tmp_path / "ca")


def test_thing_names_are_checked(ca):
    with pytest.raises(ValueError, match="not valid"):
        ca.issue_device_certificate("../etc")


def test_a_device_certificate_connects(tmp_path, broker, ca):
    config = write_config(tmp_path / "c.toml", broker, ca, "dev-a", "synthetic")
    result = run_device("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "ok: dev-a connected" in result.stdout


def test_a_certificate_from_another_ca_is_refused(tmp_path, broker, ca):
    config = write_config(tmp_path / "c.toml", broker, ca, "dev-a", "synthetic")
    stranger = LocalCA(tmp_path / "other-ca").issue_device_certificate("dev-a")
    text = config.read_text().replace(
        str(ca.directory / "devices" / "{thing}" / "certificate.pem.crt"), str(stranger.certificate)
    )
    text = text.replace(
        str(ca.directory / "devices" / "{thing}" / "private.pem.key"), str(stranger.private_key)
    )
    config.write_text(text)
    result = run_device("check", "--config", str(config), "--timeout", "10")
    assert result.returncode == 1
    assert "dev-a cannot connect" in result.stderr
    assert "certificate" in result.stderr  # the hint names the likely cause
    assert "certificate verify failed" in broker.log_path.read_text()  # the broker refused it


def test_the_broker_refuses_messages_over_128_kib(tmp_path, broker, ca, observer):
    creds = ca.issue_device_certificate("dev-a")
    topic = "$aws/rules/sensor_pipeline_telemetry/sensors/dev-a/telemetry"

    def pub(size):
        return subprocess.run(
            [
                "mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5",
                "--cafile", str(creds.ca), "--cert", str(creds.certificate),
                "--key", str(creds.private_key), "-i", "dev-a", "-q", "1", "-t", topic,
                "-s",
            ],
            input=b"x" * size,
            capture_output=True,
            timeout=20,
            check=False,
        )  # fmt: skip

    pub(128 * 1024 + 1)
    pub(10)
    observer.wait_for(lambda: len(observer.messages) >= 1)
    assert [len(p) for _, p in observer.messages] == [10]


def test_restart_keeps_the_port(tmp_path, ca):
    broker = MosquittoBroker(tmp_path / "b", ca)
    with broker:
        port = broker.port
        broker.restart()
        assert broker.running and broker.port == port
    assert not broker.running
