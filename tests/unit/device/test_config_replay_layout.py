"""Settings of a CSV log's layout and of the published precision, checked before anything runs."""

import pytest

from device.config import ConfigError, load_settings, validate
from tests.fleet_log import HEADERLESS_LAYOUT as HEADERLESS

CONFIG = """
[device]
thing_name = "room-a-1"
source = "replay"
[mqtt]
endpoint = "example-ats.iot.eu-west-1.amazonaws.com"
[replay]
path = "{log}"
"""


def settings(tmp_path, **env):
    log = tmp_path / "rooms.csv"
    log.write_text("1733097600123, room-a-1, 21.5, 40\n")
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(log=log))
    loaded = load_settings(config, environ=env)
    validate(loaded)
    return loaded


def test_a_headerless_layout_from_the_environment_is_valid(tmp_path):
    replay = settings(tmp_path, **HEADERLESS).replay
    assert (replay.header, replay.separator, replay.time_format) == (False, ", ", "unix_ms")
    assert replay.columns == {"temperature": "3", "humidity": "4"}  # no pressure needed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {**HEADERLESS, "DEVICE_REPLAY_TIME_COLUMN": "time"},
            "time_column 'time' must be a column position",
        ),
        (
            {**HEADERLESS, "DEVICE_REPLAY_SEPARATOR": ""},
            "separator '' must be one or more characters",
        ),
        ({**HEADERLESS, "DEVICE_REPLAY_TIME_FORMAT": "unix_ns"}, "time_format 'unix_ns'"),
        ({**HEADERLESS, "DEVICE_REPLAY_COLUMNS": "temperature=3"}, "no column for humidity"),
        ({"DEVICE_DECIMALS": "-2"}, r"decimals: 0\.\.15 places, or -1"),
        ({"DEVICE_REPLAY_HEADER": "maybe"}, "expected true or false"),
    ],
)
def test_a_layout_or_precision_that_cannot_work_is_refused_with_its_name(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **env)


def test_rounding_is_a_setting(tmp_path):
    assert settings(tmp_path).device.decimals == -1  # the source's precision
    assert settings(tmp_path, DEVICE_DECIMALS="2").device.decimals == 2
