"""The compactor's hourly QualityScore per device: the named query it runs, its permission, and
the setting that turns it off."""

from tests.unit.cdk_app.support import function_of, resources_of


def compactor(template):
    return function_of(template, "compactor")


def named_query_id(template, name):
    return next(
        {"Ref": logical_id}
        for logical_id, r in resources_of(template, "AWS::Athena::NamedQuery").items()
        if r["Properties"]["Name"] == name
    )


def test_the_compactor_runs_the_deployed_quality_query_once_settled(make_template):
    template = make_template()
    env = compactor(template)["Environment"]["Variables"]
    assert env["QUALITY_NAMED_QUERY_ID"] == named_query_id(template, "quality_hourly")
    assert env["QUALITY_SETTLE_MINUTES"] == "71"  # 1 (60 s buffer) + 60 + 5 + 5
    assert env["COMPACTION_SCHEDULE_MINUTES"] == "5"
    statements = [
        s
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any("athena:GetNamedQuery" in s["Action"] for s in statements)


def test_without_the_per_device_metric_the_compactor_runs_no_quality_query(make_template):
    env = compactor(make_template(qualityMetricPerDevice=False))["Environment"]["Variables"]
    assert "QUALITY_NAMED_QUERY_ID" not in env
