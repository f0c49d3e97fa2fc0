import json
from pathlib import Path

import pytest

from cdk_app.config import PipelineSettings, SettingError, context_key
from compactor.settings import MAX_THRESHOLD, MIN_THRESHOLD

ROOT = Path(__file__).resolve().parents[3]


class Context:
    def __init__(self, **overrides):
        self.values = {**json.loads((ROOT / "cdk.json").read_text())["context"], **overrides}

    def try_get_context(self, key):
        return self.values.get(key)


def test_defaults_from_cdk_json():
    settings = PipelineSettings.from_context(Context())
    assert settings.profile == "small"
    assert settings.compaction_threshold == 20
    assert settings.kinesis_stream_mode == "PROVISIONED"
    assert settings.search_index_name == "sensor-log"
    assert settings.search_index_rotation == "OneHour"
    assert settings.device_names == ("sensehat-01",)


def test_the_small_profile_is_the_default_and_sizes_the_stack_for_a_handful_of_devices():
    settings = PipelineSettings.from_context(Context())
    assert (settings.kinesis_stream_mode, settings.kinesis_shard_count) == ("PROVISIONED", 1)
    assert (settings.search_instance_type, settings.search_instance_count) == (
        "t3.small.search",
        1,
    )
    assert settings.interface_endpoint_zones == 1
    assert settings.dashboards_bastion is False


def test_the_fleet_profile_changes_only_the_defaults():
    fleet = PipelineSettings.from_context(Context(profile="fleet"))
    assert fleet.profile == "fleet"
    assert (fleet.kinesis_stream_mode, fleet.kinesis_shard_count) == ("PROVISIONED", 4)
    assert fleet.search_instance_count == 2
    assert fleet.interface_endpoint_zones == 2
    assert fleet.dashboards_bastion is True
    small = PipelineSettings.from_context(Context())
    assert fleet.compaction_threshold == small.compaction_threshold  # not a profile setting


def test_an_explicit_setting_wins_over_the_profile():
    settings = PipelineSettings.from_context(
        Context(profile="fleet", kinesisStreamMode="ON_DEMAND", dashboardsBastion="false")
    )
    assert settings.kinesis_stream_mode == "ON_DEMAND"
    assert settings.dashboards_bastion is False
    assert settings.search_instance_count == 2  # the rest still from the profile


def test_an_unknown_profile_is_rejected_with_the_known_ones():
    with pytest.raises(SettingError, match="'profile' must be one of: fleet, small"):
        PipelineSettings.from_context(Context(profile="huge"))


def test_every_profile_sets_the_same_settings_and_none_is_also_at_the_top():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    keys = [set(values) for values in context["profiles"].values()]
    assert all(k == keys[0] for k in keys)
    assert not keys[0] & set(context), "a top-level value would hide the profile's default"


def test_command_line_strings_are_coerced():
    """`cdk deploy -c compactionThreshold=50 -c deviceNames=a,b` passes strings."""
    settings = PipelineSettings.from_context(
        Context(compactionThreshold="50", deviceNames="pi-a,pi-b", dashboardsBastion="false")
    )
    assert settings.compaction_threshold == 50
    assert settings.device_names == ("pi-a", "pi-b")
    assert settings.dashboards_bastion is False


def test_json_list_from_the_command_line():
    settings = PipelineSettings.from_context(Context(deviceNames='["a", "b"]'))
    assert settings.device_names == ("a", "b")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("deviceNames", ["bad name!"], "not a valid IoT thing name"),
        ("deviceNames", ["a", "a"], "lists a device twice"),
        ("deviceNames", [], "at least one device"),
        ("kinesisStreamMode", "FAST", "kinesisStreamMode"),
        ("interfaceEndpointZones", 3, "interfaceEndpointZones"),
        ("compactionThreshold", 1, "between 2 and"),
        ("compactionThreshold", 99, "between 2 and 98"),
        ("compactionThreshold", "twenty", "not a valid int"),
        ("compactionThreshold", True, "not a valid int"),
        ("rawBufferSeconds", 901, "rawBufferSeconds"),
        ("searchIndexName", "Sensor Log", "lower-case"),
        ("searchIndexRotation", "OneMinute", "searchIndexRotation"),
        ("alarmEmail", "nobody", "e-mail"),
        ("projectionStartDate", "2015", "YYYY-MM-DD"),
    ],
)
def test_bad_settings_are_rejected_with_the_key_named(key, value, message):
    with pytest.raises(SettingError, match=message):
        PipelineSettings.from_context(Context(**{key: value}))


def test_compaction_threshold_bounds_are_the_compactors():
    """One definition: the deploy accepts exactly what the compactor accepts at run time."""
    for accepted in (MIN_THRESHOLD, MAX_THRESHOLD):
        settings = PipelineSettings.from_context(Context(compactionThreshold=accepted))
        assert settings.compaction_threshold == accepted
    for refused in (MIN_THRESHOLD - 1, MAX_THRESHOLD + 1):
        with pytest.raises(SettingError, match="one DynamoDB transaction"):
            PipelineSettings.from_context(Context(compactionThreshold=refused))


def test_missing_setting_is_named():
    context = Context()
    del context.values["compactionThreshold"]
    with pytest.raises(SettingError, match="'compactionThreshold' is missing"):
        PipelineSettings.from_context(context)


def test_every_setting_has_a_context_key_in_cdk_json():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for field in PipelineSettings.__dataclass_fields__:
        key = context_key(field)
        assert key in context or all(key in p for p in context["profiles"].values()), key


def test_readme_lists_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for field in PipelineSettings.__dataclass_fields__:
        key = context_key(field)
        assert f"`{key}`" in readme, f"README does not document {key}"
        if key not in context:  # a profile's setting: each profile's default in the row
            row = next(line for line in readme.splitlines() if line.startswith(f"| `{key}`"))
            for name, values in context["profiles"].items():
                shown = f"{name}: {json.dumps(values[key]).strip(chr(34))}"
                assert shown in row, f"README row for {key} does not show {shown!r}"
            continue
        default = context[key]
        if isinstance(default, dict):  # a structured setting: its own table in the README
            _assert_thresholds_table(readme, default)
            continue
        shown = ", ".join(default) if isinstance(default, list) else json.dumps(default).strip('"')
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{key}`"))
        assert shown in row, f"README row for {key} does not show its default {shown!r}"


def _assert_thresholds_table(readme: str, thresholds: dict) -> None:
    """Every default threshold set is a row: metric, the four lines, hysteresis."""
    for metric, spec in thresholds["default"].items():
        cells = [
            json.dumps(spec.get(name)) if name in spec else "-"
            for name in ("warningHigh", "criticalHigh", "warningLow", "criticalLow", "hysteresis")
        ]
        row = f"| `{metric}` | " + " | ".join(cells) + " |"
        assert row in readme, f"README does not show the default thresholds of {metric}: {row}"
