"""The deployer on the resources the alerter adds: an SQS on-failure queue (with a TLS-only
policy and KMS settings), a Kinesis event source mapping and a Lambda permission."""

import json
import uuid

import boto3
import pytest

from localcloud.cloud import RESOURCE_TYPES
from localcloud.cloudformation.deployer import Clients, Deployer
from localcloud.cloudformation.template import StackTemplate

pytestmark = pytest.mark.integration

STACK = "Alerts"
TEMPLATE = {
    "Resources": {
        "Readings": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
        },
        "FailuresDlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Failures": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "KmsMasterKeyId": "alias/aws/sqs",
                "MessageRetentionPeriod": 1209600,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["FailuresDlq", "Arn"]},
                    "maxReceiveCount": 3,
                },
            },
        },
        "FailuresPolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "Failures"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "sqs:*",
                            "Resource": {"Fn::GetAtt": ["Failures", "Arn"]},
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "AlerterRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "Alerter": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "alerter.handler.lambda_handler",
                "Runtime": "python3.13",
                "Role": {"Fn::GetAtt": ["AlerterRole", "Arn"]},
                "Code": {"S3Bucket": "assets", "S3Key": "alerter.zip"},
            },
        },
        "AlerterReadings": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "Alerter"},
                "EventSourceArn": {"Fn::GetAtt": ["Readings", "Arn"]},
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 100,
                "MaximumRetryAttempts": 3,
                "BisectBatchOnFunctionError": True,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": {
                    "OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}
                },
            },
        },
        "AlerterInvoke": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["Alerter", "Arn"]},
                "Principal": "sns.amazonaws.com",
            },
        },
    }
}


def deploy(tmp_path):
    (tmp_path / f"{STACK}.template.json").write_text(json.dumps(TEMPLATE))
    template = StackTemplate.load(tmp_path, STACK)
    return Deployer(template, Clients(), RESOURCE_TYPES).deploy()


def test_the_queue_is_created_with_its_attributes_and_policy(aws, tmp_path):
    deployment = deploy(tmp_path)
    url = deployment.refs["Failures"]
    assert deployment.attribute("Failures", "QueueUrl") == url
    name = deployment.attribute("Failures", "QueueName")
    assert name == f"{STACK}-Failures"
    sqs = boto3.client("sqs")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == deployment.attribute("Failures", "Arn")
    assert attributes["MessageRetentionPeriod"] == "1209600"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == deployment.attribute("FailuresDlq", "Arn")
    assert "KmsMasterKeyId" not in attributes
    assert "Policy" not in attributes  # only the TLS-only statement, left out locally
    assert deployment.created["AWS::SQS::QueuePolicy"] == ["FailuresPolicy"]


def test_the_mapping_is_recorded_for_the_runtime_with_a_stable_id(aws, tmp_path):
    deployment = deploy(tmp_path)
    props = deployment.runtime["AWS::Lambda::EventSourceMapping"]["AlerterReadings"]
    assert props["FunctionName"] == deployment.refs["Alerter"]
    assert props["EventSourceArn"] == deployment.attribute("Readings", "Arn")
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == deployment.attribute("Failures", "Arn")
    mapping_id = deployment.refs["AlerterReadings"]
    assert props["Id"] == mapping_id == str(uuid.UUID(mapping_id))
    assert deployment.attribute("AlerterReadings", "EventSourceMappingArn").endswith(mapping_id)
    aws.reset()
    assert deploy(tmp_path).refs["AlerterReadings"] == mapping_id
    assert deployment.not_emulated["AWS::Lambda::Permission"] == ["AlerterInvoke"]
