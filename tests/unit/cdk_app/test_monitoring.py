from tests.unit.cdk_app.support import only, resources_of


def alarms(template):
    return [a["Properties"] for a in resources_of(template, "AWS::CloudWatch::Alarm").values()]


def metric_names(template):
    names = set()
    for alarm in alarms(template):
        if "MetricName" in alarm:
            names.add(alarm["MetricName"])
        for query in alarm.get("Metrics", []):
            stat = query.get("MetricStat")
            if stat:
                names.add(stat["Metric"]["MetricName"])
    return names


def test_alarms_cover_every_stage(template):
    names = metric_names(template)
    for expected in (
        "GetRecords.IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
        "ReadProvisionedThroughputExceeded",
        "DeliveryToS3.Success",
        "DeliveryToS3.DataFreshness",
        "DeliveryToAmazonOpenSearchService.Success",
        "DeliveryToAmazonOpenSearchService.DataFreshness",
        "Errors",
        "Throttles",
        "Failure",
    ):
        assert expected in names, expected


def test_every_alarm_notifies_the_encrypted_topic(template):
    (topic_id,) = [k for k in resources_of(template, "AWS::SNS::Topic") if "Alarms" in k]
    for alarm in alarms(template):
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    topic = template.to_json()["Resources"][topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic


def test_iterator_age_threshold_from_context(make_template):
    template = make_template(alarmIteratorAgeSeconds=42)
    (alarm,) = [
        a for a in alarms(template) if a.get("MetricName") == "GetRecords.IteratorAgeMilliseconds"
    ]
    assert alarm["Threshold"] == 42_000


def test_email_subscription_only_when_configured(make_template, template):
    assert resources_of(template, "AWS::SNS::Subscription") == {}
    with_email = make_template(alarmEmail="ops@example.com")
    subscription = only(with_email, "AWS::SNS::Subscription")["Properties"]
    assert subscription == {**subscription, "Protocol": "email", "Endpoint": "ops@example.com"}


def test_dashboard_exists(template):
    only(template, "AWS::CloudWatch::Dashboard")
