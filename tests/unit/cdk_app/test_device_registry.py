"""The device registry in `deviceNames`: plain names as before, places and sensor models, and the
IoT attribute limits checked at synth."""

import json

import pytest

from cdk_app.config import PipelineSettings, SettingError
from cdk_app.devices import Device, parse_registry, registry_json_lines
from tests.unit.cdk_app.support import function_of, resources_of
from tests.unit.cdk_app.test_settings import Context

KITCHEN = {"site": "home", "building": "main", "floor": "0", "room": "kitchen"}


def devices(value):
    return PipelineSettings.from_context(Context(deviceNames=value)).devices


@pytest.mark.parametrize(
    "value",
    [["pi-a", "pi-b"], "pi-a,pi-b", '["pi-a", "pi-b"]', {"pi-a": None, "pi-b": {}}],
)
def test_a_plain_list_of_names_keeps_working(value):
    assert devices(value) == (Device("pi-a"), Device("pi-b"))


def test_places_and_sensor_models_as_an_object_or_a_list():
    as_object = devices({"pi-a": {**KITCHEN, "sensor": "SHT31"}, "pi-b": {"site": "home"}})
    as_list = devices([{"name": "pi-a", **KITCHEN, "sensor": "SHT31"}, "pi-b"])
    assert as_object[0] == as_list[0] == Device("pi-a", **KITCHEN, sensor="SHT31")
    assert as_object[1] == Device("pi-b", site="home")
    assert as_object[0].place_path == "home/main/0/kitchen"
    assert as_object[0].thing_attributes() == {"place": "home/main/0/kitchen", "sensor": "SHT31"}
    assert as_list[1].thing_attributes() == {}


def test_the_command_line_gives_places_without_json():
    found = devices("kitchen-1=home/main/0/kitchen, lab-1=home/main, pi")
    assert found == (
        Device("kitchen-1", **KITCHEN),
        Device("lab-1", site="home", building="main"),
        Device("pi"),
    )
    with pytest.raises(SettingError, match="more than 4 levels"):
        devices("pi=a/b/c/d/e")
    with pytest.raises(SettingError, match=r"pi\.building 'has space' cannot be an IoT"):
        devices("pi=home/has space")


def test_the_command_line_takes_the_registry_as_json():
    value = json.dumps({"pi-a": {"site": "home", "floor": 1}})
    with pytest.raises(SettingError, match="'floor' needs every level above it"):
        devices(value)
    assert devices(json.dumps({"pi-a": {"site": "home", "building": 7}}))[0].building == "7"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "at least one device"),
        (["a", {"name": "a"}], "lists a device twice: a"),
        (["bad name!"], "not a valid IoT thing name"),
        ([{"site": "home"}], "None is not a valid IoT thing name"),
        ({"pi-a": {"rooom": "x"}}, r"unknown attribute\(s\) rooom"),
        ({"pi-a": "kitchen"}, "the attributes must be an object"),
        ({"pi-a": {"room": "kitchen"}}, "'room' needs every level above it"),
        ({"pi-a": {"site": "Main Street"}}, "no spaces"),
        ({"pi-a": {"site": "a/b"}}, "'/' separates the place levels"),
        ({"pi-a": {"site": ""}}, "cannot be an IoT thing attribute value"),
        ({"pi-a": {"sensor": "x" * 801}}, "1-800 of letters"),
        ({"pi-a": {"site": ["x"]}}, "pi-a.site must be text"),
        (42, "must be a list of thing names or an object"),
    ],
)
def test_a_bad_registry_is_refused_with_what_is_wrong(value, message):
    with pytest.raises(SettingError, match=message):
        devices(value)


def test_a_place_path_over_the_attribute_value_limit_is_refused():
    long = {level: "x" * 250 for level in ("site", "building", "floor", "room")}
    with pytest.raises(SettingError, match="is 1003 characters; an IoT thing attribute value"):
        devices({"pi-a": long})


def test_the_registry_object_has_one_json_line_per_device():
    text = registry_json_lines(parse_registry({"pi-b": KITCHEN, "pi-a": None}))
    rows = [json.loads(line) for line in text.splitlines()]
    assert [row["device_id"] for row in rows] == ["pi-a", "pi-b"]
    assert rows[0] == {
        "device_id": "pi-a",
        **dict.fromkeys(("site", "building", "floor", "room", "sensor", "place")),
    }
    assert rows[1]["place"] == "home/main/0/kitchen"


def test_the_stack_writes_the_registry_for_the_devices_table(make_template):
    template = make_template(deviceNames={"pi-a": KITCHEN, "pi-b": {}})
    (custom,) = resources_of(template, "Custom::DeviceRegistry").values()
    props = custom["Properties"]
    assert props["Key"] == "devices/devices.json"
    rows = [json.loads(line) for line in props["JsonLines"].splitlines()]
    assert [(row["device_id"], row["room"]) for row in rows] == [
        ("pi-a", "kitchen"),
        ("pi-b", None),
    ]
    (table,) = [
        t["Properties"]["TableInput"]
        for t in resources_of(template, "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == "devices"
    ]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert columns == ["device_id", "site", "building", "floor", "room", "sensor", "place"]
    assert "PartitionKeys" not in table or not table["PartitionKeys"]


def test_place_thresholds_must_name_a_place_of_the_registry():
    registry = {"pi-a": KITCHEN}
    good = {"places": {"home/main": {"humidity": {"warningHigh": 70}}}}
    settings = PipelineSettings.from_context(Context(deviceNames=registry, alertThresholds=good))
    assert ("place/home/main", "humidity") in settings.threshold_config().sets
    bad = {"places": {"home/annex": {"humidity": {"warningHigh": 70}}}}
    with pytest.raises(SettingError, match="names places no device of 'deviceNames' is in: "):
        PipelineSettings.from_context(Context(deviceNames=registry, alertThresholds=bad))
    with pytest.raises(SettingError, match="is not a place"):
        PipelineSettings.from_context(
            Context(deviceNames=registry, alertThresholds={"places": {"home/": {}}})
        )


def test_the_alerter_reads_the_registry_object_and_nothing_else_of_it(make_template):
    template = make_template(deviceNames={"pi-a": KITCHEN})
    alerter = function_of(template, "alerter")
    assert alerter["Environment"]["Variables"]["DEVICE_REGISTRY_KEY"] == "devices/devices.json"
    statements = [
        s
        for p in resources_of(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:GetObject"
    ]
    resources = [json.dumps(s["Resource"]) for s in statements]
    assert any(r.endswith('"/devices/devices.json"]]}') for r in resources), resources
