"""The usage is read from the synthesized template: change a setting, the figure follows."""

import pytest

from cdk_app.config import PipelineSettings
from cdk_app.cost.model import estimate
from cdk_app.cost.prices import load_prices
from cdk_app.cost.template_usage import allows_basic_ingest, read_facts
from tests.unit.cdk_app.support import project_context, resources_of

PRICES = load_prices()


class Context:
    def __init__(self, **overrides):
        self.values = project_context(**overrides)

    def try_get_context(self, key):
        return self.values.get(key)


def facts_of(make_template, **overrides):
    return read_facts(make_template(**overrides).to_json())


def cost_of(make_template, devices=(1,), **overrides):
    settings = PipelineSettings.from_context(Context(**overrides))
    template = make_template(**overrides).to_json()
    return estimate(template, settings, PRICES, 1.0, devices)


def test_the_small_template_facts(template):
    facts = read_facts(template.to_json())
    assert (facts.kinesis_mode, facts.kinesis_shards, facts.kinesis_consumers) == (
        "PROVISIONED",
        1,
        3,  # two delivery streams and the alerter
    )
    assert (facts.search_instance_type, facts.search_instance_count) == ("t3.small.search", 1)
    assert (facts.interface_endpoints, facts.interface_endpoint_zone_hours_per_hour) == (1, 1)
    assert facts.instances == ()
    assert facts.alarms == len(resources_of(template, "AWS::CloudWatch::Alarm"))
    assert facts.kms_keys == len(resources_of(template, "AWS::KMS::Key"))
    assert {f.destination: f.vpc_zones for f in facts.firehoses} == {"opensearch": 1, "s3": 0}
    assert facts.compaction_threshold == 20 and facts.compactor_schedule_minutes == 5


def test_buffer_and_threshold_settings_change_objects_and_batches(make_template):
    base = cost_of(make_template).fleets[0].usage
    slower = cost_of(make_template, rawBufferSeconds=120, compactionThreshold=40).fleets[0].usage
    assert slower.raw_objects == pytest.approx(base.raw_objects / 2)
    assert slower.batches == pytest.approx(base.batches / 4)


def test_shards_instance_type_and_bastion_change_the_idle_cost(make_template):
    base = cost_of(make_template).idle.services
    changed = cost_of(
        make_template,
        kinesisShardCount=3,
        searchInstanceType="t3.medium.search",
        dashboardsBastion=True,
    ).idle.services
    assert changed["Kinesis Data Streams"] == pytest.approx(3 * base["Kinesis Data Streams"])
    assert changed["OpenSearch"] > base["OpenSearch"]
    assert base["EC2 (Dashboards tunnel)"] == 0 < changed["EC2 (Dashboards tunnel)"]
    # the tunnel brings Session Manager's three interface endpoints
    assert changed["VPC interface endpoints"] == pytest.approx(4 * base["VPC interface endpoints"])


def test_lambda_memory_is_read_from_the_template(template):
    as_json = template.to_json()
    alerter = next(
        k
        for k, r in as_json["Resources"].items()
        if k.startswith("AlertingAlerter") and r["Type"] == "AWS::Lambda::Function"
    )
    assert (
        read_facts(as_json).alerter_memory_mib
        == as_json["Resources"][alerter]["Properties"]["MemorySize"]
    )
    as_json["Resources"][alerter]["Properties"]["MemorySize"] = 1024
    assert read_facts(as_json).alerter_memory_mib == 1024


def test_basic_ingest_is_read_from_the_device_policy(template):
    """The stack's device policy allows only the Basic Ingest topic: no messaging charge. A
    policy that allows the plain topic instead makes every reading bill a message."""
    as_json = template.to_json()
    assert allows_basic_ingest(as_json) is True
    assert read_facts(as_json).basic_ingest is True
    policy = next(r for r in as_json["Resources"].values() if r["Type"] == "AWS::IoT::Policy")[
        "Properties"
    ]["PolicyDocument"]
    publish = next(s for s in policy["Statement"] if s["Action"] == "iot:Publish")
    publish["Resource"] = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iot:us-east-1:1:topic/sensors/x/telemetry"],
        ]
    }
    assert allows_basic_ingest(as_json) is False
    assert read_facts(as_json).basic_ingest is False
