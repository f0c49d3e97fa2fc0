"""The publisher config the local cloud writes for each thing: the device's own settings loader
reads it, validates it, and finds the certificate, key and CA it names."""

import tomllib
from pathlib import Path

from cryptography import x509

from device.config import load_settings, validate
from localcloud.iot.ca import LocalCA
from localcloud.iot.device_configs import write_device_configs

TOPIC = "$aws/rules/sensor_pipeline_telemetry/sensors/{thing}/telemetry"


def test_every_thing_gets_a_certificate_and_a_config_the_publisher_accepts(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    paths = write_device_configs(tmp_path, ca, ["kitchen-1", "lab-1"], "127.0.0.1", 18883, TOPIC)
    assert paths == [tmp_path / "devices" / t / "config.toml" for t in ("kitchen-1", "lab-1")]
    seeds = set()
    for thing, path in zip(("kitchen-1", "lab-1"), paths, strict=True):
        settings = load_settings(None, {"DEVICE_CONFIG": str(path)})
        validate(settings)
        assert settings.device.thing_name == thing
        assert (settings.mqtt.endpoint, settings.mqtt.port, settings.mqtt.topic) == (
            "127.0.0.1",
            18883,
            TOPIC,
        )
        certificate = x509.load_pem_x509_certificate(Path(settings.mqtt.certificate).read_bytes())
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert names[0].value == thing
        assert Path(settings.mqtt.private_key).is_file()
        assert Path(settings.mqtt.ca) == ca.certificate_path
        assert Path(settings.spool.path) == path.parent / "spool.db"
        assert settings.device.source == "synthetic"
        seeds.add(settings.synthetic.seed)
    assert len(seeds) == 2  # each device its own simulated climate


def test_a_setting_in_the_environment_still_wins(tmp_path):
    (path,) = write_device_configs(tmp_path, LocalCA(tmp_path / "ca"), ["pi"], "h", 1, TOPIC)
    settings = load_settings(None, {"DEVICE_CONFIG": str(path), "DEVICE_SYNTHETIC_COUNT": "20"})
    assert settings.synthetic.count == 20
    assert tomllib.loads(path.read_text())["synthetic"]["count"] == 0


def test_a_thing_no_longer_in_the_stack_loses_its_config_but_keeps_its_spool(tmp_path):
    ca = LocalCA(tmp_path / "ca")
    (old, _) = write_device_configs(tmp_path, ca, ["old", "kept"], "h", 1, TOPIC)
    (old.parent / "spool.db").write_bytes(b"readings not yet sent")
    assert write_device_configs(tmp_path, ca, ["kept"], "h", 1, TOPIC) == [
        tmp_path / "devices" / "kept" / "config.toml"
    ]
    assert not old.exists() and (old.parent / "spool.db").exists()
