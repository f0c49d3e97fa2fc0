"""The device registry's custom resource on moto: it writes the object it is given, refuses
text that is not JSON lines of devices, and removes the object on Delete."""

import boto3
import pytest
from device_registry.registry_object import RegistryObjectError, apply

pytestmark = pytest.mark.integration

LINES = '{"device_id": "pi-a", "room": "kitchen"}\n{"device_id": "pi-b", "room": null}\n'


def test_create_update_and_delete(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data")
    props = {"Bucket": "data", "Key": "devices/devices.json", "JsonLines": LINES}
    created = apply("Create", props, s3)
    assert created == {
        "PhysicalResourceId": "s3://data/devices/devices.json",
        "Data": {"Devices": "2"},
    }
    assert s3.get_object(Bucket="data", Key="devices/devices.json")["Body"].read() == LINES.encode()
    apply("Update", {**props, "JsonLines": LINES.splitlines()[0] + "\n"}, s3)
    body = s3.get_object(Bucket="data", Key="devices/devices.json")["Body"].read()
    assert body.decode().count("\n") == 1
    apply("Delete", props, s3)
    assert s3.list_objects_v2(Bucket="data").get("KeyCount") == 0


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"Bucket": "data", "Key": "k"}, "property JsonLines is missing"),
        ({"Bucket": "data", "Key": "k", "JsonLines": "{not json\n"}, "line 1 is not JSON"),
        ({"Bucket": "data", "Key": "k", "JsonLines": '{"room": "x"}\n'}, "line 1 is not an"),
    ],
)
def test_bad_properties_are_refused_and_nothing_is_written(aws, props, message):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="data")
    with pytest.raises(RegistryObjectError, match=message):
        apply("Create", props, s3)
    assert s3.list_objects_v2(Bucket="data").get("KeyCount") == 0
