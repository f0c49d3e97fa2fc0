"""Where an alert goes: the history in S3, the SNS topic, the device's MQTT alerts topic.

Every output is idempotent for the same alert: the history key is derived from the alert id, so
a retried alert rewrites the same object; SNS and MQTT may deliver a retried alert twice, with
the same `alert_id` (at least once, like every AWS messaging service).
"""

from __future__ import annotations

import json
from typing import Any


def history_key(prefix: str, alert: dict[str, Any]) -> str:
    """`alerts/dt=<reading date>/<device_id>/<metric>-<seq>.json`."""
    return (
        f"{prefix}dt={alert['ts'][:10]}/{alert['device_id']}/{alert['metric']}-{alert['seq']}.json"
    )


def subject(alert: dict[str, Any]) -> str:
    """An SNS subject (at most 100 printable ASCII characters)."""
    text = (
        f"[{alert['level'].upper()}] {alert['device_id']} {alert['metric']} "
        f"{alert['transition']}: {alert['value']:g}"
    )
    text = text.encode("ascii", "replace").decode("ascii")
    return text if len(text) <= 100 else text[:97] + "..."


def email_text(alert: dict[str, Any]) -> str:
    """The alert for people: what happened, against which line, then every field."""
    if alert["transition"] == "recovered":
        headline = (
            f"{alert['device_id']}: {alert['metric']} is back to normal at {alert['value']:g} "
            f"(it was {alert['previous_level']}; line {alert['threshold']:g}, "
            f"hysteresis {alert['hysteresis']:g})."
        )
    else:
        compare = ">=" if alert["side"] == "high" else "<="
        if alert["transition"] == "lowered":
            compare = "<" if alert["side"] == "high" else ">"
        headline = (
            f"{alert['device_id']}: {alert['metric']} is {alert['level']} "
            f"(was {alert['previous_level']}): {alert['value']:g} {compare} "
            f"{alert['threshold']:g} ({alert['side']} line)."
        )
    levels = ", ".join(f"{metric} {level}" for metric, level in alert["levels"].items())
    return (
        f"{headline}\n\nReading seq {alert['seq']} at {alert['ts']}; evaluated at "
        f"{alert['evaluated_at']}.\nLevels of the device now: {levels}.\n"
        f"Threshold set: {alert['threshold_source']}.\n\n{json.dumps(alert, indent=2)}\n"
    )


class AlertOutputs:
    def __init__(
        self,
        s3: Any,
        sns: Any,
        iot_data: Any,
        *,
        bucket: str,
        prefix: str,
        topic_arn: str,
        mqtt_topic_template: str,
    ) -> None:
        self._s3 = s3
        self._sns = sns
        self._iot_data = iot_data
        self.bucket = bucket
        self.prefix = prefix
        self.topic_arn = topic_arn
        self.mqtt_topic_template = mqtt_topic_template

    def send(self, alert: dict[str, Any]) -> None:
        """History first (it is the record), then people, then the device."""
        body = json.dumps(alert, separators=(",", ":"), sort_keys=True)
        self._s3.put_object(
            Bucket=self.bucket,
            Key=history_key(self.prefix, alert),
            Body=(body + "\n").encode(),
            ContentType="application/json",
        )
        self._sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject(alert),
            MessageStructure="json",
            Message=json.dumps({"default": body, "email": email_text(alert)}),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": str(alert[name])}
                for name in ("device_id", "metric", "level", "transition")
            },
        )
        self._iot_data.publish(
            topic=self.mqtt_topic_template.format(thing=alert["device_id"]),
            qos=1,
            retain=True,
            payload=body.encode(),
        )
