"""Building the alerter from the environment: boto3 clients, tables, outputs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from alerter.outputs import AlertOutputs
from alerter.places import DeviceRegistry
from alerter.service import Alerter
from alerter.settings import Settings
from alerter.tables import StateTable, ThresholdTable


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iot_data_client(session: boto3.session.Session, env: Mapping[str, str]) -> Any:
    """The IoT data plane client. Its endpoint is the one boto3 is configured with
    (`AWS_ENDPOINT_URL_IOT_DATA_PLANE`, as in the local cloud), else the account's ATS endpoint."""
    if env.get("AWS_ENDPOINT_URL_IOT_DATA_PLANE"):
        return session.client("iot-data")
    address = session.client("iot").describe_endpoint(endpointType="iot:Data-ATS")
    return session.client("iot-data", endpoint_url=f"https://{address['endpointAddress']}")


def build_alerter(env: Mapping[str, str] = os.environ) -> Alerter:
    settings = Settings.from_env(env)
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    outputs = AlertOutputs(
        session.client("s3"),
        session.client("sns"),
        iot_data_client(session, env),
        bucket=settings.data_bucket,
        prefix=settings.alerts_prefix,
        topic_arn=settings.alert_topic_arn,
        mqtt_topic_template=settings.mqtt_topic_template,
    )
    registry = None
    if settings.device_registry_key:
        registry = DeviceRegistry(
            session.client("s3"),
            settings.data_bucket,
            settings.device_registry_key,
            settings.cache_seconds,
        )
    return Alerter(
        ThresholdTable(dynamodb, settings.threshold_table, settings.cache_seconds),
        settings.defaults,
        StateTable(dynamodb, settings.state_table),
        outputs,
        utc_now,
        settings.window,
        registry,
    )
