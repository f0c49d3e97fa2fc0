"""The OpenSearch Dashboards saved objects, read back from the emulated OpenSearch, as searches.

A dashboard's panels name visualizations; a visualization's `visState` lists its aggregations
and names an index pattern; the pattern gives the index expression and its scripted fields.
`Panel.search(...)` is the `_search` body Dashboards sends for the panel: the time filter on the
pattern's time field, the bucket aggregations nested in the order they are listed (a scripted
field as its Painless `script`), the metrics innermost; `Panel.rows(...)` flattens the answer.
Only what the saved objects use is translated: `avg`, `max`, `terms`, `histogram`,
`date_histogram` with a calendar interval; anything else is named in `Unsupported`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METRICS = ("avg", "max")
BUCKETS = ("terms", "histogram", "date_histogram")
CALENDAR = ("m", "h", "d", "w", "M", "y")


class Unsupported(ValueError):
    """A saved object uses something the local page does not draw."""


@dataclass(frozen=True)
class Row:
    """One innermost bucket: the bucket keys by aggregation id, the metrics by id, its count."""

    keys: dict[str, Any]
    metrics: dict[str, float | None]
    count: int


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    kind: str  # the visualization type: histogram, line, ...
    aggs: list[dict[str, Any]]
    params: dict[str, Any]
    index: str  # the index pattern's title, `sensor-log-*`
    time_field: str | None
    fields: dict[str, dict[str, Any]]  # the pattern's fields by name
    grid: dict[str, int]  # gridData: x, y, w, h on the dashboard's 48 columns

    def schema(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.aggs if a.get("enabled", True) and a["schema"] == name]

    def search(self, time_from: str, time_to: str) -> dict[str, Any]:
        """The `_search` body of this panel over [time_from, time_to] (date math allowed)."""
        metrics = {a["id"]: {a["type"]: self._source(a)} for a in self.schema("metric")}
        inner: dict[str, Any] = metrics
        for agg in reversed(self.schema("segment") + self.schema("group")):
            inner = {agg["id"]: {**self._bucket(agg), "aggs": inner}}
        query: dict[str, Any] = {"match_all": {}}
        if self.time_field:
            span = {"gte": time_from, "lte": time_to, "format": "strict_date_optional_time"}
            query = {"bool": {"filter": [{"range": {self.time_field: span}}]}}
        return {"size": 0, "query": query, "aggs": inner}

    def _source(self, agg: dict[str, Any]) -> dict[str, Any]:
        if agg["type"] not in METRICS + BUCKETS:
            raise Unsupported(f"the {agg['type']} aggregation of {self.title!r}")
        field = self.fields.get(agg["params"]["field"], {"name": agg["params"]["field"]})
        if field.get("scripted"):
            return {"script": {"source": field["script"], "lang": field.get("lang", "painless")}}
        return {"field": field["name"]}

    def _bucket(self, agg: dict[str, Any]) -> dict[str, Any]:
        params, kind = agg["params"], agg["type"]
        body = self._source(agg)
        if kind == "terms":
            body |= {"size": params["size"], "order": {params["orderBy"]: params["order"]}}
        elif kind == "histogram":
            body |= {"interval": params["interval"]}
            body["min_doc_count"] = 0 if params.get("min_doc_count") else 1
            if params.get("has_extended_bounds"):
                body["extended_bounds"] = params["extended_bounds"]
        elif params.get("interval") in CALENDAR:
            body |= {"calendar_interval": f"1{params['interval']}", "time_zone": "UTC"}
            body["min_doc_count"] = params.get("min_doc_count", 1)
        else:
            raise Unsupported(f"the date_histogram interval {params.get('interval')!r}")
        return {kind: body}

    def rows(self, aggregations: Mapping[str, Any]) -> list[Row]:
        """The answer's innermost buckets, one `Row` each."""
        levels = [a["id"] for a in self.schema("segment") + self.schema("group")]
        metrics = [a["id"] for a in self.schema("metric")]
        found: list[Row] = []

        def walk(node: Mapping[str, Any], depth: int, keys: dict[str, Any]) -> None:
            if depth == len(levels):
                values = {m: node[m]["value"] for m in metrics}
                found.append(Row(keys, values, int(node.get("doc_count", 0))))
                return
            for bucket in node[levels[depth]]["buckets"]:
                walk(bucket, depth + 1, {**keys, levels[depth]: bucket["key"]})

        walk(aggregations, 0, {})
        return found


def panels(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[Panel]]]:
    """Each dashboard among `objects` (a `_find` answer's `saved_objects`) with its panels."""
    by_key = {(o["type"], o["id"]): o for o in objects}
    found = []
    for board in (o for o in objects if o["type"] == "dashboard"):
        refs = {r["name"]: r["id"] for r in board.get("references", [])}
        shown = []
        for spec in json.loads(board["attributes"].get("panelsJSON", "[]")):
            vis = by_key.get(("visualization", refs.get(spec.get("panelRefName"), "")))
            if vis is not None:
                shown.append(_panel(vis, by_key, spec.get("gridData", {})))
        found.append((board, sorted(shown, key=lambda p: (p.grid.get("y", 0), p.grid.get("x", 0)))))
    return found


def _panel(vis: dict[str, Any], by_key: dict[tuple[str, str], Any], grid: dict) -> Panel:
    state = json.loads(vis["attributes"]["visState"])
    index_id = next(r["id"] for r in vis["references"] if r["type"] == "index-pattern")
    pattern = by_key[("index-pattern", index_id)]["attributes"]
    fields = {f["name"]: f for f in json.loads(pattern.get("fields", "[]"))}
    return Panel(
        id=vis["id"],
        title=vis["attributes"]["title"],
        kind=state["type"],
        aggs=state["aggs"],
        params=state.get("params", {}),
        index=pattern["title"],
        time_field=pattern.get("timeFieldName"),
        fields=fields,
        grid=grid,
    )
