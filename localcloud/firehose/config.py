"""A delivery stream's settings, read from a resolved `AWS::KinesisFirehose::DeliveryStream`.

Only `DeliveryStreamType: KinesisStreamAsSource` with an `ExtendedS3DestinationConfiguration` or
an `AmazonopensearchserviceDestinationConfiguration` is emulated; anything else is rejected with a
message naming the property, so a template change cannot silently be ignored. The defaults are
the ones the Firehose API reference documents (buffering 300 s / 5 MiB, no compression, Lambda
processor 3 retries, OpenSearch retry duration 300 s, Firehose-generated document ids).

Not read here: `RoleARN`s (the Firehose service, resources.py, runs each worker as sessions of
the source's and the destination's roles). Ignored, because they have no local meaning:
`CloudWatchLoggingOptions`,
`EncryptionConfiguration`, `VpcConfiguration`, `DomainARN`/`ClusterEndpoint` (the endpoint of the
emulated OpenSearch is given to the worker), tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localcloud.core.aws import ACCOUNT_ID, REGION
from localcloud.firehose.naming import INDEX_ROTATIONS, PrefixPair

MIB: Final = 1024 * 1024
COMPRESSIONS: Final = {"UNCOMPRESSED": "", "GZIP": ".gz"}
DEFAULT_BUFFER_SECONDS: Final = 300
DEFAULT_BUFFER_MIB: Final = 5
DEFAULT_LAMBDA_RETRIES: Final = 3
DEFAULT_PROCESSOR_BUFFER_MIB: Final = 1.0
DEFAULT_PROCESSOR_INTERVAL_SECONDS: Final = 60
DEFAULT_OPENSEARCH_RETRY_SECONDS: Final = 300
_STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")


class DeliveryStreamConfigError(ValueError):
    """The delivery stream's template properties cannot be emulated or are invalid."""


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise DeliveryStreamConfigError(f"{where}: expected an integer, got {value!r}") from err


def _float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise DeliveryStreamConfigError(f"{where}: expected a number, got {value!r}") from err


def _dict(props: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = props.get(key) or {}
    if not isinstance(value, dict):
        raise DeliveryStreamConfigError(f"{where}.{key}: expected an object, got {value!r}")
    return value


def _str(props: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = props.get(key)
    if value is None:
        if required:
            raise DeliveryStreamConfigError(f"{where}.{key} is required")
        return None
    if not isinstance(value, str):
        raise DeliveryStreamConfigError(
            f"{where}.{key}: expected a string, got {value!r} (is an intrinsic left unresolved?)"
        )
    return value


def arn_resource(arn: str, service: str, where: str) -> str:
    """The resource part of an ARN of `service` (bucket name, `stream/<name>`, ...)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != service:
        raise DeliveryStreamConfigError(f"{where}: {arn!r} is not an ARN of service {service}")
    return parts[5]


@dataclass(frozen=True)
class BufferingHints:
    interval_seconds: int = DEFAULT_BUFFER_SECONDS
    size_mib: int = DEFAULT_BUFFER_MIB

    @property
    def size_bytes(self) -> int:
        return self.size_mib * MIB

    @classmethod
    def from_cfn(cls, props: dict[str, Any], where: str) -> BufferingHints:
        hints = _dict(props, "BufferingHints", where)
        interval = _int(hints.get("IntervalInSeconds", DEFAULT_BUFFER_SECONDS), where)
        size = _int(hints.get("SizeInMBs", DEFAULT_BUFFER_MIB), where)
        if interval < 0 or size < 1:
            raise DeliveryStreamConfigError(
                f"{where}.BufferingHints: IntervalInSeconds must be >= 0 and SizeInMBs >= 1, "
                f"got {interval} and {size}"
            )
        return cls(interval_seconds=interval, size_mib=size)


@dataclass(frozen=True)
class LambdaProcessor:
    lambda_arn: str
    number_of_retries: int = DEFAULT_LAMBDA_RETRIES
    buffer_size_mib: float = DEFAULT_PROCESSOR_BUFFER_MIB
    buffer_interval_seconds: int = DEFAULT_PROCESSOR_INTERVAL_SECONDS

    @property
    def buffer_size_bytes(self) -> int:
        return int(self.buffer_size_mib * MIB)


@dataclass(frozen=True)
class Processing:
    """`ProcessingConfiguration`: an optional Lambda and an optional record delimiter."""

    lambda_processor: LambdaProcessor | None = None
    delimiter: bytes | None = None

    @classmethod
    def from_cfn(cls, props: dict[str, Any], where: str) -> Processing:
        config = _dict(props, "ProcessingConfiguration", where)
        where = f"{where}.ProcessingConfiguration"
        if not config or str(config.get("Enabled", "false")).lower() != "true":
            return cls()
        lambda_processor: LambdaProcessor | None = None
        delimiter: bytes | None = None
        for number, processor in enumerate(config.get("Processors") or []):
            kind = processor.get("Type")
            params = {
                p.get("ParameterName"): p.get("ParameterValue")
                for p in processor.get("Parameters") or []
            }
            at = f"{where}.Processors[{number}]"
            if kind == "Lambda":
                arn = params.get("LambdaArn")
                if not isinstance(arn, str) or not arn:
                    raise DeliveryStreamConfigError(f"{at}: the LambdaArn parameter is required")
                lambda_processor = LambdaProcessor(
                    lambda_arn=arn,
                    number_of_retries=_int(
                        params.get("NumberOfRetries", DEFAULT_LAMBDA_RETRIES), f"{at}.Retries"
                    ),
                    buffer_size_mib=_float(
                        params.get("BufferSizeInMBs", DEFAULT_PROCESSOR_BUFFER_MIB), at
                    ),
                    buffer_interval_seconds=_int(
                        params.get("BufferIntervalInSeconds", DEFAULT_PROCESSOR_INTERVAL_SECONDS),
                        at,
                    ),
                )
            elif kind == "AppendDelimiterToRecord":
                raw = params.get("Delimiter", "\\n")
                delimiter = str(raw).encode("utf-8").decode("unicode_escape").encode("utf-8")
            else:
                raise DeliveryStreamConfigError(
                    f"{at}: processor type {kind!r} is not emulated locally "
                    "(supported: Lambda, AppendDelimiterToRecord)"
                )
        return cls(lambda_processor=lambda_processor, delimiter=delimiter)


@dataclass(frozen=True)
class S3Target:
    """Where and how objects are written: bucket, prefixes, compression, time zone."""

    bucket: str
    prefixes: PrefixPair
    compression: str = "UNCOMPRESSED"
    file_extension: str | None = None
    time_zone: tzinfo = UTC

    @property
    def extension(self) -> str:
        if self.file_extension is not None:
            return self.file_extension
        return COMPRESSIONS[self.compression]

    @classmethod
    def from_cfn(cls, props: dict[str, Any], where: str) -> S3Target:
        bucket = arn_resource(_str(props, "BucketARN", where, True) or "", "s3", where)
        compression = _str(props, "CompressionFormat", where) or "UNCOMPRESSED"
        if compression not in COMPRESSIONS:
            raise DeliveryStreamConfigError(
                f"{where}.CompressionFormat {compression!r} is not emulated locally "
                f"(supported: {', '.join(COMPRESSIONS)})"
            )
        zone_name = _str(props, "CustomTimeZone", where)
        try:
            zone: tzinfo = ZoneInfo(zone_name) if zone_name else UTC
        except ZoneInfoNotFoundError as err:
            raise DeliveryStreamConfigError(
                f"{where}.CustomTimeZone {zone_name!r} is unknown"
            ) from err
        try:
            prefixes = PrefixPair.from_config(
                _str(props, "Prefix", where), _str(props, "ErrorOutputPrefix", where)
            )
        except ValueError as err:
            raise DeliveryStreamConfigError(f"{where}: {err}") from err
        if _dict(props, "DynamicPartitioningConfiguration", where).get("Enabled"):
            raise DeliveryStreamConfigError(f"{where}: dynamic partitioning is not emulated")
        if _dict(props, "DataFormatConversionConfiguration", where).get("Enabled"):
            raise DeliveryStreamConfigError(f"{where}: record format conversion is not emulated")
        return cls(
            bucket=bucket,
            prefixes=prefixes,
            compression=compression,
            file_extension=_str(props, "FileExtension", where),
            time_zone=zone,
        )


@dataclass(frozen=True)
class S3Destination:
    """`ExtendedS3DestinationConfiguration`."""

    target: S3Target
    buffering: BufferingHints = field(default_factory=BufferingHints)
    processing: Processing = field(default_factory=Processing)
    backup: S3Target | None = None  # S3BackupMode Enabled: the source records, untransformed

    @classmethod
    def from_cfn(cls, props: dict[str, Any]) -> S3Destination:
        where = "ExtendedS3DestinationConfiguration"
        backup_mode = _str(props, "S3BackupMode", where) or "Disabled"
        if backup_mode not in ("Disabled", "Enabled"):
            raise DeliveryStreamConfigError(f"{where}.S3BackupMode {backup_mode!r} is invalid")
        backup = None
        if backup_mode == "Enabled":
            backup_where = f"{where}.S3BackupConfiguration"
            backup = S3Target.from_cfn(_dict(props, "S3BackupConfiguration", where), backup_where)
        return cls(
            target=S3Target.from_cfn(props, where),
            buffering=BufferingHints.from_cfn(props, where),
            processing=Processing.from_cfn(props, where),
            backup=backup,
        )


@dataclass(frozen=True)
class OpenSearchDestination:
    """`AmazonopensearchserviceDestinationConfiguration`."""

    index_name: str
    s3: S3Target
    rotation: str = "OneDay"
    buffering: BufferingHints = field(default_factory=BufferingHints)
    processing: Processing = field(default_factory=Processing)
    retry_duration_seconds: int = DEFAULT_OPENSEARCH_RETRY_SECONDS
    backup_all_documents: bool = False
    firehose_document_ids: bool = True
    type_name: str = ""

    @classmethod
    def from_cfn(cls, props: dict[str, Any]) -> OpenSearchDestination:
        where = "AmazonopensearchserviceDestinationConfiguration"
        index_name = _str(props, "IndexName", where, True) or ""
        rotation = _str(props, "IndexRotationPeriod", where) or "OneDay"
        if rotation not in INDEX_ROTATIONS:
            raise DeliveryStreamConfigError(
                f"{where}.IndexRotationPeriod {rotation!r} is not one of {INDEX_ROTATIONS}"
            )
        backup_mode = _str(props, "S3BackupMode", where) or "FailedDocumentsOnly"
        if backup_mode not in ("FailedDocumentsOnly", "AllDocuments"):
            raise DeliveryStreamConfigError(f"{where}.S3BackupMode {backup_mode!r} is invalid")
        retry = _int(
            _dict(props, "RetryOptions", where).get(
                "DurationInSeconds", DEFAULT_OPENSEARCH_RETRY_SECONDS
            ),
            f"{where}.RetryOptions.DurationInSeconds",
        )
        id_format = _dict(props, "DocumentIdOptions", where).get(
            "DefaultDocumentIdFormat", "FIREHOSE_DEFAULT"
        )
        if id_format not in ("FIREHOSE_DEFAULT", "NO_DOCUMENT_ID"):
            raise DeliveryStreamConfigError(
                f"{where}.DocumentIdOptions.DefaultDocumentIdFormat {id_format!r} is invalid"
            )
        return cls(
            index_name=index_name,
            s3=S3Target.from_cfn(
                _dict(props, "S3Configuration", where), f"{where}.S3Configuration"
            ),
            rotation=rotation,
            buffering=BufferingHints.from_cfn(props, where),
            processing=Processing.from_cfn(props, where),
            retry_duration_seconds=retry,
            backup_all_documents=backup_mode == "AllDocuments",
            firehose_document_ids=id_format == "FIREHOSE_DEFAULT",
            type_name=_str(props, "TypeName", where) or "",
        )


@dataclass(frozen=True)
class DeliveryStreamConfig:
    """One delivery stream: its name, its Kinesis source and its destination."""

    logical_id: str
    name: str
    source_stream_arn: str
    destination: S3Destination | OpenSearchDestination
    version: int = 1
    region: str = REGION
    account_id: str = ACCOUNT_ID

    @property
    def source_stream_name(self) -> str:
        return arn_resource(self.source_stream_arn, "kinesis", "KinesisStreamARN").removeprefix(
            "stream/"
        )

    @property
    def arn(self) -> str:
        return f"arn:aws:firehose:{self.region}:{self.account_id}:deliverystream/{self.name}"

    @classmethod
    def from_cfn_properties(
        cls, logical_id: str, props: dict[str, Any], name: str | None = None
    ) -> DeliveryStreamConfig:
        """Read a resolved template resource's `Properties`.

        `name` is the physical name when the template leaves `DeliveryStreamName` to
        CloudFormation; without either, the logical id is the name.
        """
        where = f"{logical_id} (AWS::KinesisFirehose::DeliveryStream)"
        stream_type = props.get("DeliveryStreamType", "DirectPut")
        if stream_type != "KinesisStreamAsSource":
            raise DeliveryStreamConfigError(
                f"{where}: DeliveryStreamType {stream_type!r} is not emulated locally "
                "(only KinesisStreamAsSource)"
            )
        source = _dict(props, "KinesisStreamSourceConfiguration", where)
        source_arn = _str(source, "KinesisStreamARN", f"{where}.KinesisStreamSourceConfiguration")
        if not source_arn:
            raise DeliveryStreamConfigError(
                f"{where}: KinesisStreamSourceConfiguration.KinesisStreamARN is required"
            )
        arn_resource(source_arn, "kinesis", f"{where}.KinesisStreamARN")
        stream_name = name or _str(props, "DeliveryStreamName", where) or logical_id
        if not _STREAM_NAME.match(stream_name):
            raise DeliveryStreamConfigError(
                f"{where}: delivery stream name {stream_name!r} must be 1-64 of letters, digits, "
                "'_', '.', '-'"
            )
        s3_props = props.get("ExtendedS3DestinationConfiguration")
        search_props = props.get("AmazonopensearchserviceDestinationConfiguration")
        other = sorted(
            key
            for key in props
            if key.endswith("DestinationConfiguration")
            and key
            not in (
                "ExtendedS3DestinationConfiguration",
                "AmazonopensearchserviceDestinationConfiguration",
            )
        )
        if other or (s3_props is None) == (search_props is None):
            raise DeliveryStreamConfigError(
                f"{where}: exactly one of ExtendedS3DestinationConfiguration or "
                "AmazonopensearchserviceDestinationConfiguration is emulated"
                + (f"; found {', '.join(other)}" if other else "")
            )
        try:
            destination: S3Destination | OpenSearchDestination = (
                S3Destination.from_cfn(s3_props)
                if s3_props is not None
                else OpenSearchDestination.from_cfn(search_props)
            )
        except DeliveryStreamConfigError as err:
            raise DeliveryStreamConfigError(f"{where}: {err}") from err
        return cls(
            logical_id=logical_id,
            name=stream_name,
            source_stream_arn=source_arn,
            destination=destination,
        )
