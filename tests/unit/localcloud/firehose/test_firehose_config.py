"""Reading delivery streams from resolved template properties."""

from datetime import UTC

import pytest

from localcloud.firehose.config import (
    MIB,
    DeliveryStreamConfig,
    DeliveryStreamConfigError,
    OpenSearchDestination,
    S3Destination,
)

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/sensor-stream"
BUCKET_ARN = "arn:aws:s3:::sensor-data"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:validator"


def lambda_processing(**extra):
    params = [{"ParameterName": "LambdaArn", "ParameterValue": LAMBDA_ARN}]
    params += [{"ParameterName": k, "ParameterValue": v} for k, v in extra.items()]
    return {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": params}]}


def s3_props(**destination):
    return {
        "DeliveryStreamName": "raw-delivery",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM_ARN, "RoleARN": "r"},
        "ExtendedS3DestinationConfiguration": {
            "BucketARN": BUCKET_ARN,
            "RoleARN": "r",
            "Prefix": "raw/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/",
            "CompressionFormat": "GZIP",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            "ProcessingConfiguration": lambda_processing(
                NumberOfRetries="2", BufferSizeInMBs="0.5", BufferIntervalInSeconds="60"
            ),
            "CloudWatchLoggingOptions": {"Enabled": True, "LogGroupName": "g"},
            "S3BackupMode": "Disabled",
            **destination,
        },
    }


def search_props(**destination):
    return {
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {"KinesisStreamARN": STREAM_ARN},
        "AmazonopensearchserviceDestinationConfiguration": {
            "DomainARN": "arn:aws:es:us-east-1:123456789012:domain/search",
            "IndexName": "sensor-log",
            "IndexRotationPeriod": "OneHour",
            "BufferingHints": {"IntervalInSeconds": 30, "SizeInMBs": 2},
            "RetryOptions": {"DurationInSeconds": 120},
            "S3BackupMode": "FailedDocumentsOnly",
            "S3Configuration": {
                "BucketARN": BUCKET_ARN,
                "Prefix": "errors/search/",
                "ErrorOutputPrefix": "errors/search/!{firehose:error-output-type}/",
                "CompressionFormat": "GZIP",
            },
            "VpcConfiguration": {"SubnetIds": ["s"], "SecurityGroupIds": ["g"], "RoleARN": "r"},
            **destination,
        },
    }


def test_s3_stream_from_template_properties():
    config = DeliveryStreamConfig.from_cfn_properties("RawToS3", s3_props())
    assert config.name == "raw-delivery"
    assert config.source_stream_name == "sensor-stream"
    assert config.arn == "arn:aws:firehose:us-east-1:123456789012:deliverystream/raw-delivery"
    destination = config.destination
    assert isinstance(destination, S3Destination)
    assert destination.target.bucket == "sensor-data"
    assert destination.target.compression == "GZIP"
    assert destination.target.extension == ".gz"
    assert destination.target.time_zone is UTC
    assert destination.buffering.interval_seconds == 60
    assert destination.buffering.size_bytes == 5 * MIB
    processor = destination.processing.lambda_processor
    assert processor is not None
    assert processor.lambda_arn == LAMBDA_ARN
    assert processor.number_of_retries == 2
    assert processor.buffer_size_bytes == MIB // 2
    assert destination.processing.delimiter is None
    assert destination.backup is None


def test_defaults_from_the_api_reference():
    props = s3_props()
    destination = props["ExtendedS3DestinationConfiguration"]
    for key in ("BufferingHints", "CompressionFormat", "ProcessingConfiguration", "Prefix"):
        destination.pop(key)
    destination.pop("ErrorOutputPrefix")
    config = DeliveryStreamConfig.from_cfn_properties("Raw", props)
    assert config.destination.buffering.interval_seconds == 300
    assert config.destination.buffering.size_mib == 5
    assert config.destination.target.compression == "UNCOMPRESSED"
    assert config.destination.target.extension == ""
    assert config.destination.processing.lambda_processor is None


def test_name_falls_back_to_the_given_physical_name_then_the_logical_id():
    props = s3_props()
    del props["DeliveryStreamName"]
    assert DeliveryStreamConfig.from_cfn_properties("RawToS3", props).name == "RawToS3"
    named = DeliveryStreamConfig.from_cfn_properties("RawToS3", props, name="stack-raw-1A2B")
    assert named.name == "stack-raw-1A2B"


def test_append_delimiter_processor_and_custom_extension():
    props = s3_props(
        ProcessingConfiguration={
            "Enabled": True,
            "Processors": [
                {
                    "Type": "AppendDelimiterToRecord",
                    "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}],
                }
            ],
        },
        FileExtension=".json.gz",
    )
    destination = DeliveryStreamConfig.from_cfn_properties("Raw", props).destination
    assert destination.processing.delimiter == b"\n"
    assert destination.processing.lambda_processor is None
    assert destination.target.extension == ".json.gz"


def test_disabled_processing_is_ignored():
    props = s3_props(ProcessingConfiguration={**lambda_processing(), "Enabled": False})
    destination = DeliveryStreamConfig.from_cfn_properties("Raw", props).destination
    assert destination.processing.lambda_processor is None


def test_opensearch_stream_from_template_properties():
    config = DeliveryStreamConfig.from_cfn_properties("ToOpenSearch", search_props())
    destination = config.destination
    assert isinstance(destination, OpenSearchDestination)
    assert destination.index_name == "sensor-log"
    assert destination.rotation == "OneHour"
    assert destination.retry_duration_seconds == 120
    assert destination.buffering.size_mib == 2
    assert not destination.backup_all_documents
    assert destination.firehose_document_ids
    assert destination.s3.bucket == "sensor-data"
    assert destination.s3.compression == "GZIP"


def test_opensearch_backup_and_document_id_options():
    config = DeliveryStreamConfig.from_cfn_properties(
        "ToOpenSearch",
        search_props(
            S3BackupMode="AllDocuments",
            DocumentIdOptions={"DefaultDocumentIdFormat": "NO_DOCUMENT_ID"},
        ),
    )
    assert config.destination.backup_all_documents
    assert not config.destination.firehose_document_ids


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(DeliveryStreamType="DirectPut"), "DirectPut"),
        (lambda p: p.pop("KinesisStreamSourceConfiguration"), "KinesisStreamARN is required"),
        (
            lambda p: p["KinesisStreamSourceConfiguration"].update(KinesisStreamARN="stream"),
            "not an ARN of service kinesis",
        ),
        (lambda p: p.update(DeliveryStreamName="has space"), "1-64"),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"].update(CompressionFormat="Snappy"),
            "CompressionFormat 'Snappy'",
        ),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"].update(BucketARN={"Fn::GetAtt": 1}),
            "unresolved",
        ),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"].pop("ErrorOutputPrefix"),
            "ErrorOutputPrefix is required",
        ),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"][
                "Processors"
            ].append({"Type": "RecordDeAggregation", "Parameters": []}),
            "RecordDeAggregation",
        ),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"].update(
                BufferingHints={"IntervalInSeconds": "soon"}
            ),
            "expected an integer",
        ),
        (
            lambda p: p["ExtendedS3DestinationConfiguration"].update(
                DynamicPartitioningConfiguration={"Enabled": True}
            ),
            "dynamic partitioning",
        ),
        (lambda p: p.update(search_props()), "exactly one"),
        (lambda p: p.update(SplunkDestinationConfiguration={}), "SplunkDestinationConfiguration"),
    ],
)
def test_properties_that_cannot_be_emulated_are_rejected_with_the_reason(mutate, message):
    props = s3_props()
    mutate(props)
    with pytest.raises(DeliveryStreamConfigError, match=message):
        DeliveryStreamConfig.from_cfn_properties("Raw", props)


def test_opensearch_rejects_unknown_rotation():
    with pytest.raises(DeliveryStreamConfigError, match="IndexRotationPeriod"):
        DeliveryStreamConfig.from_cfn_properties(
            "ToOpenSearch", search_props(IndexRotationPeriod="OneYear")
        )
