import pytest

from localcloud.iot.policy import PolicyTranslationError, acl_from_policy

ARN = "arn:aws:iot:us-east-1:123456789012"
THING = "${iot:Connection.Thing.ThingName}"


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_own_topic_publish_becomes_a_per_user_write_pattern():
    document = policy(
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/{THING}"},
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": f"{ARN}:topic/sensors/{THING}/telemetry",
        },
    )
    assert acl_from_policy(document) == ["pattern write sensors/%u/telemetry"]


def test_subscribe_and_receive_become_read():
    document = policy(
        {
            "Effect": "Allow",
            "Action": ["iot:Subscribe"],
            "Resource": [f"{ARN}:topicfilter/sensors/{THING}/alerts"],
        },
        {
            "Effect": "Allow",
            "Action": "iot:Receive",
            "Resource": f"{ARN}:topic/sensors/{THING}/alerts",
        },
    )
    assert acl_from_policy(document) == ["pattern read sensors/%u/alerts"]


def test_trailing_wildcard():
    document = policy(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/lab/*"}
    )
    assert acl_from_policy(document) == ["pattern write lab/#"]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/a"}, "only Allow"),
        (
            {"Effect": "Allow", "Action": "iot:*", "Resource": f"{ARN}:topic/a"},
            "no broker equivalent",
        ),
        ({"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}, "not an IoT topic"),
        (
            {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN}:topic/a/*/b"},
            "trailing",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": f"{ARN}:topic/${{iot:Certificate.Subject.CommonName}}",
            },
            "unsupported policy variable",
        ),
    ],
)
def test_what_the_broker_cannot_enforce_is_refused(statement, message):
    with pytest.raises(PolicyTranslationError, match=message):
        acl_from_policy(policy(statement))


ATTACHED = {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def device_policy(condition=ATTACHED):
    connect = {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/{THING}"}
    if condition is not None:
        connect["Condition"] = condition
    return policy(
        connect,
        {
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": f"{ARN}:topic/sensors/{THING}/telemetry",
        },
        {
            "Effect": "Allow",
            "Action": "iot:Receive",
            "Resource": f"{ARN}:topic/sensors/{THING}/alerts",
        },
    )


def test_attached_things_only_gives_each_thing_of_the_registry_its_own_rules():
    """A certificate named after no thing matches no `user` block: it may do nothing."""
    assert acl_from_policy(device_policy(), ["pi-1", "pi-2"]) == [
        "user pi-1",
        "topic write sensors/pi-1/telemetry",
        "topic read sensors/pi-1/alerts",
        "user pi-2",
        "topic write sensors/pi-2/telemetry",
        "topic read sensors/pi-2/alerts",
    ]


def test_without_the_attachment_condition_the_rules_stay_patterns():
    assert acl_from_policy(device_policy(condition=None), ["pi-1"]) == [
        "pattern write sensors/%u/telemetry",
        "pattern read sensors/%u/alerts",
    ]
    assert acl_from_policy(device_policy()) == [
        "pattern write sensors/%u/telemetry",
        "pattern read sensors/%u/alerts",
    ]


def test_a_client_id_variable_cannot_be_written_per_thing():
    document = device_policy()
    document["Statement"][1]["Resource"] = f"{ARN}:topic/sensors/${{iot:ClientId}}/telemetry"
    with pytest.raises(PolicyTranslationError, match="ClientId"):
        acl_from_policy(document, ["pi-1"])


def test_a_basic_ingest_publish_becomes_a_write_on_that_rules_topic_per_thing():
    document = device_policy()
    document["Statement"][1]["Resource"] = (
        f"{ARN}:topic/$aws/rules/sensor_pipeline_telemetry/sensors/{THING}/telemetry"
    )
    assert acl_from_policy(document, ["pi-1"]) == [
        "user pi-1",
        "topic write $aws/rules/sensor_pipeline_telemetry/sensors/pi-1/telemetry",
        "topic read sensors/pi-1/alerts",
    ]
