"""The one Painless script the emulated OpenSearch runs: the hour of a date field's value,
as OpenSearch Dashboards sends a scripted field of an index pattern
(`{"script": {"source": "doc['ts'].value.getHour()", "lang": "painless"}}` in place of `field`
for the dashboards' `hour_of_day`). In Painless `doc['ts'].value` is a `ZonedDateTime` in UTC,
so `getHour()` is the UTC hour. Every other script is a 400 saying it is not supported."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from localcloud.opensearch.dates import to_datetime
from localcloud.opensearch.errors import OpenSearchError, not_supported
from localcloud.opensearch.query import Row

_HOUR = re.compile(r"\s*doc\['(?P<field>[^']+)'\]\.value\.getHour\(\)\s*;?\s*")


def script_values(script: Any) -> Callable[[Row], list[Any]]:
    """How to read a row's value of `script` (an aggregation's `script` parameter)."""
    source = script.get("source") if isinstance(script, dict) else script
    lang = script.get("lang", "painless") if isinstance(script, dict) else "painless"
    found = _HOUR.fullmatch(source) if isinstance(source, str) else None
    if lang != "painless" or found is None:
        raise not_supported(f"the script [{source}]")
    path = found["field"]

    def values(row: Row) -> list[Any]:
        dates = row.fields.get(path)
        if not dates:
            raise OpenSearchError(
                400,
                "script_exception",
                f"A document doesn't have a value for a field! Use doc[{path}].size()==0 to "
                "check if a document is missing a field!",
            )
        return [to_datetime(int(dates[0])).hour]

    return values
