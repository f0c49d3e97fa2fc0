import json

from tests.unit.cdk_app.support import function_of, only, resources_of


def compactor(template):
    return function_of(template, "compactor")


def test_state_table_is_on_demand_with_point_in_time_recovery(template):
    (table,) = [
        t["Properties"]
        for logical_id, t in resources_of(template, "AWS::DynamoDB::Table").items()
        if logical_id.startswith("CompactionState")
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_object_created_on_raw_invokes_the_compactor(template):
    notifications = only(template, "Custom::S3BucketNotifications")["Properties"]
    (config,) = notifications["NotificationConfiguration"]["LambdaFunctionConfigurations"]
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"}]}}
    function_id = config["LambdaFunctionArn"]["Fn::GetAtt"][0]
    assert template.to_json()["Resources"][function_id]["Properties"]["Handler"] == (
        "compactor.handler.lambda_handler"
    )


def test_compactor_environment_carries_the_settings(make_template):
    env = compactor(make_template(compactionThreshold=35))["Environment"]["Variables"]
    assert env["COMPACTION_THRESHOLD"] == "35"
    for key in (
        "STATE_TABLE",
        "COMPACTION_MAX_AGE_MINUTES",
        "GLUE_DATABASE",
        "RAW_TABLE",
        "COMPACTED_TABLE",
        "ATHENA_WORKGROUP",
        "DATA_BUCKET",
        "RAW_PREFIX",
        "COMPACTED_PREFIX",
    ):
        assert key in env
    assert (env["RAW_PREFIX"], env["COMPACTED_PREFIX"]) == ("raw/", "compacted/")


def test_a_schedule_compacts_the_tail(template):
    rule = only(template, "AWS::Events::Rule")["Properties"]
    assert rule["ScheduleExpression"].startswith("rate(")
    (target,) = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_compactor_permissions_are_scoped(template):
    resources = template.to_json()["Resources"]
    role_id = compactor(template)["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p
        for p in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    text = json.dumps(policy["Properties"]["PolicyDocument"])
    assert '"Resource": "*"' not in text
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all(not a.endswith(":*") for a in actions), actions
        if any(a.startswith("s3:Delete") for a in actions):
            assert "compacted/*" in json.dumps(statement["Resource"])
            assert "raw/" not in json.dumps(statement["Resource"])
    assert resources[role_id]["Properties"].get("ManagedPolicyArns") is None
