from tests.unit.cdk_app.support import resources_of


def buckets(template):
    return resources_of(template, "AWS::S3::Bucket")


def test_every_bucket_is_private_and_encrypted(template):
    for bucket in buckets(template).values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert len(buckets(template)) == 3


def test_every_bucket_denies_plain_http(template):
    policies = resources_of(template, "AWS::S3::BucketPolicy").values()
    protected = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition", {}).get("Bool") == {
                "aws:SecureTransport": "false"
            }:
                protected.add(policy["Properties"]["Bucket"]["Ref"])
    assert protected == set(buckets(template))


def lifecycle(template, bucket_fragment):
    (bucket,) = [b for lid, b in buckets(template).items() if bucket_fragment in lid]
    return {
        r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"] if "Id" in r
    }


def test_raw_expires_only_after_compaction_and_by_retention_setting(make_template):
    rules = lifecycle(make_template(rawRetentionDays=45, errorRetentionDays=120), "StorageData")
    raw = rules["raw-after-compaction"]
    assert raw["Prefix"] == "raw/"
    assert raw["TagFilters"] == [{"Key": "compacted", "Value": "true"}]
    assert raw["ExpirationInDays"] == 45
    assert rules["errors"]["Prefix"] == "errors/"
    assert rules["errors"]["ExpirationInDays"] == 120


def test_query_results_expire(make_template):
    rules = lifecycle(make_template(queryResultsExpiryDays=3), "StorageQueryResults")
    assert rules["results"]["ExpirationInDays"] == 3


def test_data_and_results_buckets_log_access(template):
    logged = [
        lid for lid, b in buckets(template).items() if "LoggingConfiguration" in b["Properties"]
    ]
    assert sorted(lid.split("Storage")[1][:4] for lid in logged) == ["Data", "Quer"]
