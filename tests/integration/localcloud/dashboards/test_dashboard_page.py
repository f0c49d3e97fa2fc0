"""The local dashboard page against the emulated OpenSearch in this process: the shipped saved
objects imported through the Dashboards API, readings indexed through `_bulk`; what the page says
when a panel cannot be drawn, and a reading without every field."""

import re
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch

from localcloud.core.ports import free_port
from localcloud.dashboards.server import DashboardServer
from localcloud.opensearch.server import OpenSearchEmulator

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]
MAPPING = {
    "properties": {
        "device_id": {"type": "keyword"},
        "ts": {"type": "date"},
        "temperature": {"type": "float"},
        "humidity": {"type": "float"},
    }
}


@pytest.fixture(scope="module")
def page():
    with OpenSearchEmulator(ism_interval_seconds=None) as search:
        saved = (ROOT / "dashboards" / "opensearch" / "saved-objects.ndjson").read_bytes()
        imported = requests.post(
            f"{search.endpoint}/_dashboards/api/saved_objects/_import?overwrite=true",
            headers={"osd-xsrf": "true"},
            files={"file": ("saved-objects.ndjson", saved)},
            timeout=30,
        )
        assert imported.json()["success"]
        client = OpenSearch(hosts=[search.endpoint])
        template = {"index_patterns": ["sensor-log-*"], "template": {"mappings": MAPPING}}
        client.indices.put_index_template(name="sensor-log", body=template)
        reading = {"device_id": "pi-1", "ts": "2026-01-01T00:10:00Z", "temperature": 21.5}
        client.bulk(body=[{"index": {"_index": "sensor-log-2026-01-01-00"}}, reading])
        with DashboardServer(free_port(), client, None) as dashboard:

            def get(query: str) -> requests.Response:
                return requests.get(f"{dashboard.endpoint}/{query}", timeout=60)

            yield get


def test_a_day_with_readings_draws_every_panel_and_the_device(page):
    shown = page("?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
    assert shown.status_code == 200
    assert shown.text.count("<svg") == 4 and "not drawn" not in shown.text
    (row,) = re.findall(r'<tr data-device="pi-1">(.*?)</tr>', shown.text, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells == ["pi-1", "2026-01-01T00:10:00Z", "21.5", "", "", "normal"]
    assert "No alerter is deployed" in shown.text


def test_an_unreadable_time_range_is_named_on_every_panel(page):
    shown = page("?from=yesterday-ish")
    reasons = re.findall(r'<p class="error">([^<]*)</p>', shown.text)
    assert shown.status_code == 200 and len(reasons) == 4
    assert all("failed to parse date field [yesterday-ish]" in reason for reason in reasons)


def test_only_the_page_is_served(page):
    assert page("charts/x.svg").status_code == 404
