import json

import pytest

from localcloud.cloudformation.template import Resolver, StackTemplate, TemplateError, physical_name


def write_template(tmp_path, resources, parameters=None):
    body = {"Resources": resources, "Parameters": parameters or {}}
    (tmp_path / "Demo.template.json").write_text(json.dumps(body))
    return StackTemplate.load(tmp_path, "Demo")


@pytest.fixture
def template(tmp_path):
    return write_template(
        tmp_path,
        {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Stream": {"Type": "AWS::Kinesis::Stream", "DependsOn": "Bucket"},
            "Rule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {"Arn": {"Fn::GetAtt": ["Stream", "Arn"]}, "B": {"Ref": "Bucket"}},
            },
        },
        {"Size": {"Type": "Number", "Default": "3"}},
    )


def resolver(template, refs=None, attributes=None):
    attributes = attributes or {}

    def attribute(logical_id, name):
        return attributes[(logical_id, name)]

    return Resolver(template, refs or {}, attribute)


def test_dependency_order_follows_references_and_depends_on(template):
    order = [r.logical_id for r in template.in_dependency_order()]
    assert order.index("Bucket") < order.index("Stream") < order.index("Rule")


def test_cycles_are_reported(tmp_path):
    template = write_template(
        tmp_path,
        {
            "A": {"Type": "X", "Properties": {"p": {"Ref": "B"}}},
            "B": {"Type": "X", "Properties": {"p": {"Ref": "A"}}},
        },
    )
    with pytest.raises(TemplateError, match="circular"):
        list(template.in_dependency_order())


def test_ref_getatt_join_and_pseudo_parameters(template):
    r = resolver(template, {"Bucket": "my-bucket"}, {("Stream", "Arn"): "arn:stream"})
    value = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "Bucket"}, "/", {"Ref": "Size"}],
        ]
    }
    assert r.resolve(value) == "arn:aws:s3:::my-bucket/3"
    assert r.resolve({"Fn::GetAtt": ["Stream", "Arn"]}) == "arn:stream"
    assert r.resolve({"Fn::GetAtt": "Stream.Arn"}) == "arn:stream"


def test_sub_with_variables_attributes_and_escaped_literals(template):
    r = resolver(template, {"Bucket": "b"}, {("Stream", "Arn"): "arn:s"})
    text = "${Bucket}/${Stream.Arn}/${AWS::Region}/${x}/${!literal}"
    assert r.resolve({"Fn::Sub": [text, {"x": "X"}]}) == "b/arn:s/us-east-1/X/${literal}"


def test_policy_variables_in_plain_strings_are_left_alone(template):
    value = "topic/sensors/${iot:Connection.Thing.ThingName}/telemetry"
    assert resolver(template).resolve(value) == value


def test_select_getazs_base64_and_novalue(template):
    r = resolver(template)
    assert r.resolve({"Fn::Select": [1, {"Fn::GetAZs": ""}]}) == "us-east-1b"
    assert r.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert r.resolve([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]


def test_unknown_reference_is_named(template):
    with pytest.raises(TemplateError, match="Missing"):
        resolver(template).resolve({"Ref": "Missing"})


def test_missing_template_says_how_to_make_it(tmp_path):
    with pytest.raises(TemplateError, match="make synth"):
        StackTemplate.load(tmp_path, "Nope")


def test_physical_names_follow_service_rules():
    assert physical_name("SensorPipeline", "StorageData6BB2", "AWS::S3::Bucket") == (
        "sensorpipeline-storagedata6bb2"
    )
    assert len(physical_name("S" * 40, "L" * 40, "AWS::S3::Bucket")) <= 63


def test_find_in_map_looks_up_the_partition_and_refuses_a_missing_key(tmp_path):
    body = {
        "Mappings": {"PowertoolsPublisher": {"aws": {"account": "017000801446"}}},
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
    }
    (tmp_path / "Demo.template.json").write_text(json.dumps(body))
    r = resolver(StackTemplate.load(tmp_path, "Demo"))
    found = {"Fn::FindInMap": ["PowertoolsPublisher", {"Ref": "AWS::Partition"}, "account"]}
    assert r.resolve(found) == "017000801446"
    with pytest.raises(
        TemplateError, match="Unable to get mapping for PowertoolsPublisher::aws-cn"
    ):
        r.resolve({"Fn::FindInMap": ["PowertoolsPublisher", "aws-cn", "account"]})
