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
