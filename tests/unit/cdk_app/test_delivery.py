from tests.unit.cdk_app.support import rendered, resources_of


def streams(template):
    return resources_of(template, "AWS::KinesisFirehose::DeliveryStream")


def s3_stream(template):
    (stream,) = [
        s
        for s in streams(template).values()
        if "ExtendedS3DestinationConfiguration" in s["Properties"]
    ]
    return stream["Properties"]


def search_stream(template):
    (stream,) = [
        s
        for s in streams(template).values()
        if "AmazonopensearchserviceDestinationConfiguration" in s["Properties"]
    ]
    return stream["Properties"]


def function_env(template, processing):
    (processor,) = processing["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    function_id = params["LambdaArn"]["Fn::GetAtt"][0]
    return template.to_json()["Resources"][function_id]["Properties"]


def test_both_streams_read_the_one_kinesis_stream(template):
    stream_id = next(iter(resources_of(template, "AWS::Kinesis::Stream")))
    for stream in streams(template).values():
        props = stream["Properties"]
        assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
        source = props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"]
        assert source == {"Fn::GetAtt": [stream_id, "Arn"]}
    assert len(streams(template)) == 2


def test_raw_prefix_by_arrival_date_and_hour_with_error_prefix(template):
    dest = s3_stream(template)["ExtendedS3DestinationConfiguration"]
    assert dest["Prefix"] == "raw/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert dest["ErrorOutputPrefix"] == (
        "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    )
    assert dest["CompressionFormat"] == "GZIP"
    assert dest["CloudWatchLoggingOptions"]["Enabled"] is True


def test_buffering_hints_come_from_context(make_template):
    template = make_template(rawBufferSeconds=120, rawBufferMiB=16)
    hints = s3_stream(template)["ExtendedS3DestinationConfiguration"]["BufferingHints"]
    assert hints == {"IntervalInSeconds": 120, "SizeInMBs": 16}


def test_raw_stream_validator_writes_lines_and_records_invalid_readings(template):
    dest = s3_stream(template)["ExtendedS3DestinationConfiguration"]
    function = function_env(template, dest["ProcessingConfiguration"])
    env = function["Environment"]["Variables"]
    # One JSON object and a newline per reading: the validator emits the record delimiter.
    assert env["OUTPUT_FORMAT"] == "s3-lines"
    assert env["INVALID_RECORDS"] == "write"
    assert env["ERROR_PREFIX"] == "errors/invalid/"
    assert function["Handler"] == "validator.handler.lambda_handler"


def test_search_stream_index_rotation_backup_and_vpc(template):
    props = search_stream(template)
    dest = props["AmazonopensearchserviceDestinationConfiguration"]
    assert dest["IndexName"] == "sensor-log"
    assert dest["IndexRotationPeriod"] == "OneHour"
    assert dest["S3BackupMode"] == "FailedDocumentsOnly"
    assert dest["S3Configuration"]["Prefix"] == "errors/search/"
    assert dest["RetryOptions"]["DurationInSeconds"] >= 60
    domain_id = next(iter(resources_of(template, "AWS::OpenSearchService::Domain")))
    assert dest["DomainARN"] == {"Fn::GetAtt": [domain_id, "Arn"]}
    domain = template.to_json()["Resources"][domain_id]["Properties"]
    assert dest["VpcConfiguration"]["SubnetIds"] == domain["VPCOptions"]["SubnetIds"]
    env = function_env(template, dest["ProcessingConfiguration"])["Environment"]["Variables"]
    assert env["OUTPUT_FORMAT"] == "search-documents"
    assert env["INVALID_RECORDS"] == "drop"


def test_index_name_and_rotation_from_context(make_template):
    template = make_template(searchIndexName="greenhouse", searchIndexRotation="OneDay")
    dest = search_stream(template)["AmazonopensearchserviceDestinationConfiguration"]
    assert (dest["IndexName"], dest["IndexRotationPeriod"]) == ("greenhouse", "OneDay")


def test_firehose_roles_write_only_their_prefixes(template):
    resources = template.to_json()["Resources"]
    for stream in streams(template).values():
        props = stream["Properties"]
        role_id = props["KinesisStreamSourceConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
        trust = resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
        policies = [
            p
            for p in resources_of(template, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
        ]
        puts = [
            rendered(r)
            for p in policies
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "s3:PutObject" in s["Action"]
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]
        assert puts, "a delivery role must be able to write somewhere"
        for resource in puts:
            suffix = resource.split("}", 1)[1]
            assert suffix in {"/raw/*", "/errors/*", "/errors/search/*"}, resource
