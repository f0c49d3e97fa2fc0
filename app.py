#!/usr/bin/env python3
"""CDK entry point: `cdk synth` writes the templates to cdk.out/, `cdk deploy` ships them."""

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import PipelineSettings
from cdk_app.pipeline_stack import SensorPipelineStack

app = cdk.App()
SensorPipelineStack(
    app,
    PipelineSettings.from_context(app.node).stack_id(),  # SensorPipeline[-<stage>]
    description="Sense HAT sensor pipeline: IoT Core, Kinesis, Firehose, S3, OpenSearch, Athena",
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    ),
)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
