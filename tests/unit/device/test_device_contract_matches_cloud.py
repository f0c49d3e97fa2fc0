"""The device's copy of the reading contract (device/contract.py) equals the cloud's, the one
the validator and the alerter check readings with (lambdas/validator/validator/reading.py)."""

from device import contract as device
from validator import reading as cloud


def test_schema_version_thing_names_and_message_size_agree():
    assert device.SCHEMA_VERSION == cloud.SCHEMA_VERSION
    assert device.DEVICE_ID_PATTERN.pattern == cloud.THING_NAME_PATTERN.pattern
    assert device.MAX_MESSAGE_BYTES == cloud.MAX_PAYLOAD_BYTES


def test_the_device_publishes_exactly_the_cloud_fields():
    assert set(device.FIELD_ORDER) == set(cloud.FIELDS_BY_NAME)
    required = {spec.name for spec in cloud.FIELDS if spec.required}
    assert required == {"schema", "device_id", "seq", "ts", *device.REQUIRED_MEASUREMENTS}


def test_measurement_ranges_agree():
    numeric = {spec.name: spec for spec in cloud.FIELDS if spec.kind is cloud.Kind.NUMBER}
    assert set(device.RANGES) == set(numeric)
    for name, (low, high) in device.RANGES.items():
        assert (low, high) == (numeric[name].minimum, numeric[name].maximum), name
