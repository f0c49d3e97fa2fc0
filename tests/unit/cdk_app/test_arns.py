"""ARNs a first deploy depends on: log-group ARNs in policies, and the Powertools layer's.

`Fn::GetAtt <LogGroup>.Arn` already ends in ":*".
Appending `:log-stream:*` (or `:*`) to it renders `log-group:X:*:log-stream:*`, which matches no
log stream, so Firehose could never log its delivery errors. Policies name log streams by the
group's name (`log_streams_arn`) or use the Arn as it is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.cdk_app.support import synth_stack

FIREHOSES = ("RawDelivery", "Search")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    app, _stack = synth_stack()
    return app.synth().get_stack_by_name("SensorPipeline").template


def policy_documents(template: dict[str, Any]) -> list[dict[str, Any]]:
    documents = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            documents.append(props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            documents += [policy["PolicyDocument"] for policy in props.get("Policies", [])]
        elif resource["Type"] == "AWS::Logs::ResourcePolicy":
            documents.append({"text": props["PolicyDocument"]})
    return documents


def test_nothing_is_appended_to_a_log_group_arn(template):
    groups = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    ]
    assert len(groups) >= 8
    texts = [json.dumps(document) for document in policy_documents(template)]
    for logical_id in groups:
        arn = json.dumps({"Fn::GetAtt": [logical_id, "Arn"]})
        for text in texts:
            for suffix in (":log-stream:*", ":*"):
                assert f'{arn}, "{suffix}"' not in text, (logical_id, suffix)


def test_firehose_roles_put_events_into_their_own_groups_log_streams(template):
    resources = template["Resources"]
    for name in FIREHOSES:
        policy = next(
            resource
            for logical_id, resource in resources.items()
            if resource["Type"] == "AWS::IAM::Policy"
            and logical_id.startswith(f"{name}RoleDefaultPolicy")
        )
        statement = next(
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Action"] == "logs:PutLogEvents"
        )
        parts = statement["Resource"]["Fn::Join"][1]
        group = next(
            p["Ref"]
            for p in parts
            if isinstance(p, dict) and "Ref" in p and p["Ref"].startswith(f"{name}DeliveryLogs")
        )
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert parts[-2:] == [{"Ref": group}, ":log-stream:*"]
        assert parts[-3].endswith(":log-group:")


def test_the_search_domains_log_policy_names_the_groups_as_they_are(template):
    policy = next(
        r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::ResourcePolicy"
    )
    text = json.dumps(policy["Properties"]["PolicyDocument"])
    assert '"Arn"]}' in text
    assert '"Arn"]}, ":*"' not in text


def test_the_powertools_layer_account_is_looked_up_per_partition(template):
    """A partition without a published layer fails the deploy before anything is created."""
    assert template["Mappings"]["PowertoolsPublisher"] == {"aws": {"account": "017000801446"}}
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    ours = [f for f in functions if "Layers" in f["Properties"]]
    assert len(ours) >= 4
    for function in ours:
        (layer,) = function["Properties"]["Layers"]
        parts = layer["Fn::Join"][1]
        assert {
            "Fn::FindInMap": ["PowertoolsPublisher", {"Ref": "AWS::Partition"}, "account"]
        } in parts
        assert {"Ref": "AWS::Partition"} in parts
