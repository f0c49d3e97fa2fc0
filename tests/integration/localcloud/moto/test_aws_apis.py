import boto3
import pytest

pytestmark = pytest.mark.integration


def test_boto3_reaches_moto_through_the_standard_endpoint_variable(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="raw/a.json", Body=b"{}\n")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="probe")["Contents"]] == ["raw/a.json"]


def test_reset_forgets_every_resource(aws):
    boto3.client("s3").create_bucket(Bucket="gone-after-reset")
    aws.reset()
    assert boto3.client("s3").list_buckets()["Buckets"] == []
