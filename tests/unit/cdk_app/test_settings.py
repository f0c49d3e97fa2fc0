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
    assert settings.compaction_threshold == 20
    assert settings.kinesis_stream_mode == "ON_DEMAND"
    assert settings.search_index_name == "sensor-log"
    assert settings.search_index_rotation == "OneHour"
    assert settings.device_names == ("sensehat-01",)


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
        assert context_key(field) in context


def test_readme_lists_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for field in PipelineSettings.__dataclass_fields__:
        key = context_key(field)
        assert f"`{key}`" in readme, f"README does not document {key}"
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
