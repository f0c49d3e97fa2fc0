import typing
from pathlib import Path

import pytest

from device.config import (
    ASTRO_PI_COLUMNS,
    SECTIONS,
    ConfigError,
    credentials_for,
    env_name,
    load_settings,
    validate,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "device" / "config.example.toml"


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def files(tmp_path, *names):
    for name in names:
        (tmp_path / name).write_text("pem")


GOOD = """
[device]
thing_name = "sensehat-01"
source = "synthetic"
[mqtt]
endpoint = "example-ats.iot.eu-west-1.amazonaws.com"
certificate = "{d}/cert.pem"
private_key = "{d}/key.pem"
ca = "{d}/ca.pem"
"""


def test_defaults_without_a_file():
    settings = load_settings(None, environ={})
    assert settings.device.source == "sensehat"
    assert settings.mqtt.port == 8883
    assert settings.publish.rate_per_second == 80
    assert settings.spool.full_policy == "drop-oldest"
    assert settings.replay.columns == ASTRO_PI_COLUMNS


def test_file_and_environment_overrides(tmp_path):
    path = write(tmp_path, GOOD.format(d=tmp_path))
    env = {
        "DEVICE_THING_NAME": "pi-kitchen",
        "DEVICE_MQTT_PORT": "443",
        "DEVICE_MQTT_IOT_CORE_FLOW_CONTROL": "false",
        "DEVICE_PUBLISH_RATE_PER_SECOND": "50.5",
        "DEVICE_REPLAY_COLUMNS": "temperature=t, humidity=h ,pressure=p",
    }
    settings = load_settings(path, environ=env)
    assert settings.device.thing_name == "pi-kitchen"
    assert settings.device.source == "synthetic"
    assert settings.mqtt.port == 443
    assert settings.mqtt.iot_core_flow_control is False
    assert settings.publish.rate_per_second == 50.5
    assert settings.replay.columns == {"temperature": "t", "humidity": "h", "pressure": "p"}
    assert settings.config_path == path


def test_config_file_from_the_environment(tmp_path):
    path = write(tmp_path, GOOD.format(d=tmp_path))
    assert load_settings(environ={"DEVICE_CONFIG": str(path)}).device.thing_name == "sensehat-01"


def test_env_names():
    assert env_name("device", "thing_name") == "DEVICE_THING_NAME"
    assert env_name("mqtt", "endpoint") == "DEVICE_MQTT_ENDPOINT"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[device]\nthing_nam = 'x'\n", {}, r"unknown key\(s\) in \[device\]: thing_nam"),
        ("[devices]\n", {}, r"unknown table\(s\)"),
        ("[mqtt]\nport = '8883'\n", {}, r"\[mqtt\] port: expected an integer"),
        ("[device]\nled = 'yes'\n", {}, r"\[device\] led: expected true or false"),
        ("", {"DEVICE_MQTT_PORT": "eighty"}, "DEVICE_MQTT_PORT: expected an integer"),
        ("", {"DEVICE_MQTT_ENDPONT": "x"}, r"unknown setting\(s\).*DEVICE_MQTT_ENDPONT"),
        ("[device\n", {}, "not valid TOML"),
    ],
)
def test_bad_files_and_variables_are_named(tmp_path, text, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ=env)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def validated(tmp_path, extra="", env=None):
    settings = load_settings(write(tmp_path, GOOD.format(d=tmp_path) + extra), environ=env or {})
    validate(settings)
    return settings


def test_a_good_file_validates(tmp_path):
    validated(tmp_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEVICE_SOURCE": "camera"}, "unknown source 'camera'.*sensehat, emulator, replay"),
        ({"DEVICE_THING_NAME": "my pi"}, "thing_name.*not valid"),
        ({"DEVICE_THING_NAME": ""}, "thing_name .* is not set"),
        ({"DEVICE_MQTT_ENDPOINT": ""}, "endpoint .* is not set"),
        ({"DEVICE_TEMPERATURE_FACTOR": "0"}, "temperature_factor must be > 0"),
        ({"DEVICE_SPOOL_FULL_POLICY": "drop-newest"}, "full_policy 'drop-newest'"),
        ({"DEVICE_PUBLISH_RATE_PER_SECOND": "-1"}, "rate_per_second"),
        ({"DEVICE_MQTT_KEEP_ALIVE_SECONDS": "5"}, "keep_alive_seconds"),
        ({"DEVICE_SOURCE": "replay"}, r"\[replay\] path .* is not set"),
        (
            {"DEVICE_SOURCE": "replay", "DEVICE_REPLAY_PATH": "/nonexistent.csv"},
            "file not found: /nonexistent.csv",
        ),
        (
            {"DEVICE_SOURCE": "replay", "DEVICE_REPLAY_TIMEZONE": "Mars/Olympus"},
            "not a known time zone",
        ),
        ({"DEVICE_SYNTHETIC_START": "yesterday"}, "not an ISO 8601"),
        ({"DEVICE_MQTT_TOPIC": "sensors/pi/telemetry"}, r"topic .*\{thing\} exactly once"),
        ({"DEVICE_MQTT_TOPIC": "sensors/+/{thing}"}, r"topic .*wildcards"),
    ],
)
def test_each_bad_setting_gets_a_clear_error(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        validated(tmp_path, env=env)


def test_all_errors_are_listed_at_once(tmp_path):
    env = {"DEVICE_SOURCE": "camera", "DEVICE_MQTT_ENDPOINT": ""}
    with pytest.raises(ConfigError) as info:
        validated(tmp_path, env=env)
    assert "unknown source" in str(info.value)
    assert "endpoint" in str(info.value)


def test_missing_certificate_file_is_named_with_a_hint(tmp_path):
    settings = validated(tmp_path)
    files(tmp_path, "key.pem", "ca.pem")
    with pytest.raises(ConfigError, match=r"certificate: file not found: .*cert.pem .*provision"):
        credentials_for(settings, "sensehat-01")


def test_missing_ca_points_to_the_amazon_root_ca(tmp_path):
    settings = validated(tmp_path)
    files(tmp_path, "cert.pem", "key.pem")
    with pytest.raises(ConfigError, match=r"ca: file not found.*AmazonRootCA1"):
        credentials_for(settings, "sensehat-01")


def test_thing_placeholder_in_credential_paths(tmp_path):
    (tmp_path / "dev-002").mkdir()
    files(tmp_path, "dev-002/cert.pem", "dev-002/key.pem", "ca.pem")
    env = {
        "DEVICE_MQTT_CERTIFICATE": f"{tmp_path}/{{thing}}/cert.pem",
        "DEVICE_MQTT_PRIVATE_KEY": f"{tmp_path}/{{thing}}/key.pem",
        "DEVICE_SYNTHETIC_DEVICES": "3",
    }
    settings = validated(tmp_path, env=env)
    assert credentials_for(settings, "dev-002").certificate == tmp_path / "dev-002" / "cert.pem"
    with pytest.raises(ConfigError, match=r"dev-003/cert\.pem"):
        credentials_for(settings, "dev-003")


def test_a_fleet_needs_one_certificate_per_thing(tmp_path):
    files(tmp_path, "cert.pem", "key.pem", "ca.pem")
    settings = validated(tmp_path, env={"DEVICE_SYNTHETIC_DEVICES": "3"})
    with pytest.raises(ConfigError, match=r"must contain \{thing\}"):
        credentials_for(settings, "sensehat-01-001")


def test_the_example_config_is_valid_and_shows_every_key_with_its_default():
    settings = load_settings(EXAMPLE, environ={})
    validate(settings)
    defaults = load_settings(None, environ={})
    text = EXAMPLE.read_text()
    for section, cls in SECTIONS.items():
        for key in typing.get_type_hints(cls):
            marker = "[replay.columns]" if key == "columns" else f"\n{key} = "
            assert marker in text, f"{section}.{key} is not in the example"
            if (section, key) in {("device", "thing_name"), ("mqtt", "endpoint")}:
                continue  # examples, no defaults
            assert getattr(getattr(settings, section), key) == getattr(
                getattr(defaults, section), key
            ), f"{section}.{key} differs from the default"
