"""The local dashboard page: `GET /[?from=<date math>&to=<date math>]`.

Each request reads the saved objects from the emulated OpenSearch (as the master user), sends
each panel's search (`saved_objects.Panel.search`), draws the answers as inline SVG
(`charts.py`, redrawn only when an answer changed), and lists every device's latest reading
(the newest document of each `device_id`) with its alert level: the highest level among the
device's items in the alerter's state table (`STATE_TABLE`, keys `device_id` and `metric`).
The time range is the dashboard's saved one unless `from`/`to` are given. A few lines of
JavaScript fetch the page again a few seconds after each answer and swap its content in (with
the whole Sense HAT log indexed, one page takes about 3 s of the emulated OpenSearch's time).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jinja2
from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from demo import report_charts as draw
from localcloud.core.http import HttpService, Request, Response
from localcloud.dashboards.charts import figure
from localcloud.dashboards.saved_objects import Panel, Unsupported, panels

ENDPOINT_VARIABLE = "DASHBOARDS_URL"
REFRESH_SECONDS = 5
LEVELS = ("normal", "warning", "critical")
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


class DashboardServer(HttpService):
    def __init__(self, port: int, search: OpenSearch, state_table: str | None) -> None:
        super().__init__(port)
        self.search, self.state_table = search, state_table
        self._drawn: dict[str, tuple[str, str]] = {}  # panel id -> (what it drew, its SVG)
        self._drawing = threading.Lock()  # matplotlib draws one figure at a time

    def env(self) -> dict[str, str]:
        return {ENDPOINT_VARIABLE: f"{self.endpoint}/"}

    def handle(self, request: Request) -> Response:
        if request.path != "/":
            return Response("not found: the local dashboard is at /\n", 404)
        objects = self.search.transport.perform_request(
            "GET",
            "/_dashboards/api/saved_objects/_find",
            params={"type": "dashboard,visualization,index-pattern", "per_page": 1000},
        )["saved_objects"]
        boards, devices = [], []
        for board, shown in panels(objects):
            saved = board["attributes"]
            time_from = request.args.get("from") or saved.get("timeFrom", "now-15m")
            time_to = request.args.get("to") or saved.get("timeTo", "now")
            charts = [(p, self._chart(p, time_from, time_to)) for p in shown]
            boards.append({"saved": saved, "from": time_from, "to": time_to, "charts": charts})
            devices = devices or (self.devices(shown[0]) if shown else [])
        page = TEMPLATES.get_template("dashboard.html.j2").render(
            boards=boards,
            devices=devices,
            alerter=self.state_table is not None,
            now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            refresh_ms=REFRESH_SECONDS * 1000,
        )
        return Response(page, 200, content_type="text/html; charset=utf-8")

    def _chart(self, panel: Panel, time_from: str, time_to: str) -> dict[str, str]:
        """The panel as inline SVG, or the reason it is not drawn."""
        try:
            body = panel.search(time_from, time_to)
            answer = self.search.search(index=panel.index, body=body)
        except (TransportError, Unsupported) as err:
            return {"error": _reason(err)}
        aggregations = answer.get("aggregations", {})
        key = repr((panel, aggregations))  # a changed saved object is drawn again too
        with self._drawing:
            if self._drawn.get(panel.id, ("", ""))[0] != key:
                try:
                    drawn = draw.svg(figure(panel, panel.rows(aggregations))).decode()
                except Unsupported as err:
                    return {"error": str(err)}
                self._drawn[panel.id] = (key, drawn[drawn.index("<svg") :])
            return {"svg": self._drawn[panel.id][1]}

    def devices(self, panel: Panel) -> list[dict[str, Any]]:
        """Each device in the panel's indices: its newest reading and its alert level."""
        body = {"size": 0, "aggs": {"d": {"terms": {"field": "device_id", "size": 500}}}}
        found = self.search.search(index=panel.index, body=body)["aggregations"]["d"]["buckets"]
        levels = self.levels()
        rows = []
        for bucket in found:
            newest = {
                "size": 1,
                "sort": [{panel.time_field or "_id": "desc"}],
                "query": {"term": {"device_id": bucket["key"]}},
            }
            hits = self.search.search(index=panel.index, body=newest)["hits"]["hits"]
            reading = hits[0]["_source"] if hits else {}
            by_metric = levels.get(bucket["key"], {})
            level = max(by_metric.values(), key=LEVELS.index, default="normal")
            rows.append({"id": bucket["key"], "reading": reading, "level": level, "by": by_metric})
        return rows

    def levels(self) -> dict[str, dict[str, str]]:
        """The alerter's state table: device -> metric -> level."""
        if self.state_table is None:
            return {}
        found: dict[str, dict[str, str]] = {}
        pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=self.state_table)
        for item in (i for page in pages for i in page["Items"]):
            found.setdefault(item["device_id"]["S"], {})[item["metric"]["S"]] = item["level"]["S"]
        return found


def _reason(err: Exception) -> str:
    """What the emulated OpenSearch said was wrong (or why the panel is not drawn)."""
    info = getattr(err, "info", None)
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        return str(info["error"].get("reason", info["error"]))
    return str(info or err)
