"""The device registry's object in the data bucket, which the Glue table `devices` reads.

The stack computes the object's text (JSON lines, one device a line) at synth from the context's
`deviceNames` and passes it as a property, so this code only writes what it is given: on Create
and Update it puts the object, on Delete it removes it (the registry is configuration, made again
by the next deploy).
"""

from __future__ import annotations

import json
from typing import Any


class RegistryObjectError(ValueError):
    """A property of the custom resource is missing or unusable."""


def check_json_lines(text: str) -> int:
    """The number of rows in `text`; each line must be a JSON object with a `device_id`."""
    rows = 0
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError as err:
            raise RegistryObjectError(f"line {number} is not JSON: {err}") from err
        if not isinstance(row, dict) or not isinstance(row.get("device_id"), str):
            raise RegistryObjectError(f"line {number} is not an object with a device_id")
        rows += 1
    return rows


def apply(request_type: str, props: dict[str, Any], s3: Any) -> dict[str, Any]:
    """Carry out a custom resource request; the response's PhysicalResourceId and Data."""
    try:
        bucket, key, text = str(props["Bucket"]), str(props["Key"]), str(props["JsonLines"])
    except KeyError as err:
        raise RegistryObjectError(f"property {err.args[0]} is missing") from err
    physical_id = f"s3://{bucket}/{key}"
    if request_type == "Delete":
        s3.delete_object(Bucket=bucket, Key=key)
        return {"PhysicalResourceId": physical_id}
    rows = check_json_lines(text)
    s3.put_object(
        Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/x-ndjson"
    )
    return {"PhysicalResourceId": physical_id, "Data": {"Devices": str(rows)}}
