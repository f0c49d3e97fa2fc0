"""Mappings of the emulated OpenSearch: dynamic mapping, typed values, rejected documents."""

import struct

import pytest

from localcloud.opensearch.errors import OpenSearchError
from localcloud.opensearch.mapping import Mapping, analyze, check_mappings


def float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def test_dynamic_mapping_follows_opensearch_defaults():
    mapping = Mapping()
    parsed = mapping.parse(
        {
            "ok": True,
            "seq": 7,
            "temperature": 21.5,
            "ts": "2026-11-22T10:00:00.000Z",
            "device_id": "sensehat-01",
            "year": "2026",
            "location": {"room": "lab"},
        },
        "1",
    )
    properties = mapping.body["properties"]
    assert properties["ok"] == {"type": "boolean"}
    assert properties["seq"] == {"type": "long"}
    assert properties["temperature"] == {"type": "float"}
    assert properties["ts"] == {"type": "date"}
    keyword_sub = {"keyword": {"type": "keyword", "ignore_above": 256}}
    assert properties["device_id"] == {"type": "text", "fields": keyword_sub}
    assert properties["year"]["type"] == "text"  # a bare year is not taken for a date
    assert properties["location"] == {
        "properties": {"room": {"type": "text", "fields": keyword_sub}}
    }
    assert parsed.mapping_changed
    assert parsed.fields["ts"] == [1795341600000]
    assert parsed.fields["device_id.keyword"] == ["sensehat-01"]
    assert parsed.fields["location.room"] == ["lab"]


def test_a_second_document_with_known_fields_changes_nothing():
    mapping = Mapping()
    mapping.parse({"seq": 1}, "1")
    assert not mapping.parse({"seq": 2}, "2").mapping_changed


def test_date_and_numeric_detection_can_be_switched():
    mapping = Mapping(check_mappings({"date_detection": False, "numeric_detection": True}))
    mapping.parse({"ts": "2026-11-22T10:00:00Z", "n": "12", "x": "1.5"}, "1")
    properties = mapping.body["properties"]
    assert properties["ts"]["type"] == "text"
    assert properties["n"] == {"type": "long"}
    assert properties["x"] == {"type": "float"}


def test_values_are_stored_with_the_precision_of_their_type():
    mapping = Mapping(
        check_mappings(
            {
                "properties": {
                    "f": {"type": "float"},
                    "d": {"type": "double"},
                    "n": {"type": "integer"},
                    "k": {"type": "keyword"},
                    "b": {"type": "boolean"},
                }
            }
        )
    )
    fields = mapping.parse({"f": 21.3, "d": 21.3, "n": "12.7", "k": 5, "b": "true"}, "1").fields
    assert fields["f"] == [float32(21.3)] and fields["f"] != [21.3]
    assert fields["d"] == [21.3]
    assert fields["n"] == [12]  # coerced: numeric string, fraction truncated
    assert fields["k"] == ["5"]
    assert fields["b"] == [True]


@pytest.mark.parametrize(
    ("field_type", "value", "cause"),
    [
        ("float", "abc", "number_format_exception"),
        ("long", "12x", "number_format_exception"),
        ("integer", 2**40, "illegal_argument_exception"),
        ("long", 2**64, "illegal_argument_exception"),
        ("boolean", "yes", "illegal_argument_exception"),
        ("date", "not a date", "illegal_argument_exception"),
        ("keyword", {"a": 1}, "illegal_state_exception"),
        ("float", True, "illegal_argument_exception"),
    ],
)
def test_a_value_the_mapped_type_cannot_take_is_a_mapper_parsing_exception(
    field_type, value, cause
):
    mapping = Mapping(check_mappings({"properties": {"x": {"type": field_type}}}))
    with pytest.raises(OpenSearchError) as caught:
        mapping.parse({"x": value}, "doc-7")
    error = caught.value
    assert error.status == 400
    assert error.error_type == "mapper_parsing_exception"
    assert (
        f"failed to parse field [x] of type [{field_type}] in document with id 'doc-7'"
        in error.reason
    )
    assert error.caused_by["type"] == cause


def test_ignore_malformed_skips_the_value_and_keeps_the_document():
    mapping = Mapping(
        check_mappings({"properties": {"x": {"type": "float", "ignore_malformed": True}}})
    )
    fields = mapping.parse({"x": "abc", "y": 1}, "1").fields
    assert "x" not in fields and fields["y"] == [1]


def test_a_rejected_document_leaves_the_mapping_unchanged():
    mapping = Mapping(check_mappings({"properties": {"x": {"type": "float"}}}))
    with pytest.raises(OpenSearchError):
        mapping.parse({"new_field": "hello", "x": "abc"}, "1")
    assert set(mapping.body["properties"]) == {"x"}


def test_strict_and_false_dynamic_settings():
    strict = Mapping(check_mappings({"dynamic": "strict", "properties": {"a": {"type": "long"}}}))
    with pytest.raises(OpenSearchError) as caught:
        strict.parse({"a": 1, "b": 2}, "1")
    assert caught.value.error_type == "strict_dynamic_mapping_exception"
    assert "dynamic introduction of [b] within [_doc] is not allowed" in caught.value.reason
    loose = Mapping(check_mappings({"dynamic": False, "properties": {"a": {"type": "long"}}}))
    parsed = loose.parse({"a": 1, "b": 2}, "1")
    assert "b" not in parsed.fields and set(loose.body["properties"]) == {"a"}


def test_dotted_names_are_objects_and_objects_reject_scalars():
    mapping = Mapping()
    fields = mapping.parse({"sensor.temp": 20, "sensor": {"hum": 40}}, "1").fields
    assert fields["sensor.temp"] == [20] and fields["sensor.hum"] == [40]
    assert set(mapping.body["properties"]["sensor"]["properties"]) == {"temp", "hum"}
    with pytest.raises(OpenSearchError, match="tried to parse field \\[sensor\\] as object"):
        mapping.parse({"sensor": 5}, "2")


def test_arrays_index_every_value_and_nulls_none():
    mapping = Mapping(check_mappings({"properties": {"flags": {"type": "keyword"}}}))
    fields = mapping.parse({"flags": ["a", None, ["b"]], "gone": None}, "1").fields
    assert fields["flags"] == ["a", "b"]
    assert "gone" not in fields and "gone" not in mapping.body["properties"]


def test_keyword_ignore_above_drops_long_values_from_the_index():
    mapping = Mapping(check_mappings({"properties": {"k": {"type": "keyword", "ignore_above": 3}}}))
    assert "k" not in mapping.parse({"k": "long value"}, "1").fields
    assert mapping.parse({"k": "abc"}, "2").fields["k"] == ["abc"]


def test_metadata_fields_cannot_be_in_a_document():
    with pytest.raises(OpenSearchError, match="metadata field"):
        Mapping().parse({"_id": "x"}, "1")


@pytest.mark.parametrize(
    ("mappings", "message"),
    [
        (
            {"properties": {"where": {"type": "geo_point"}}},
            "not supported by the emulated OpenSearch",
        ),
        ({"properties": {"x": {"type": "keyword", "colour": "red"}}}, "unknown parameter [colour]"),
        ({"properties": {"ts": {"type": "date", "format": "EEEE"}}}, "Invalid format"),
        (
            {"properties": {"s": {"type": "scaled_float", "scaling_factor": 10}}},
            "the field type [scaled_float] of field [s]",
        ),
        ({"dynamic_templates": [{"x": {}}]}, "not supported by the emulated OpenSearch"),
        ({"wrong": 1}, "unsupported parameters"),
    ],
)
def test_invalid_mappings_are_rejected(mappings, message):
    with pytest.raises(OpenSearchError, match=message.replace("[", "\\[").replace("]", "\\]")):
        check_mappings(mappings)


def test_standard_analysis_lowercases_words():
    assert analyze("Sense HAT, sensor-01!") == ["sense", "hat", "sensor", "01"]
