"""The local dashboard's reading of the shipped saved objects: the searches it sends for each
panel, as OpenSearch Dashboards builds them, and what it refuses to draw."""

import json
from pathlib import Path

import pytest

from localcloud.dashboards.charts import figure
from localcloud.dashboards.saved_objects import Row, Unsupported, panels

ROOT = Path(__file__).resolve().parents[4]
SAVED = ROOT / "dashboards" / "opensearch" / "saved-objects.ndjson"


@pytest.fixture(scope="module")
def shown():
    objects = [json.loads(line) for line in SAVED.read_text().splitlines() if line.strip()]
    ((board, found),) = panels(objects)
    assert board["attributes"]["title"] == "Sensor readings"
    return {panel.id: panel for panel in found}


def test_the_hour_of_day_panel_sends_the_scripted_field_as_its_painless_script(shown):
    body = shown["sensor-hourly-temperature"].search("now-7d", "now")
    assert body["query"]["bool"]["filter"] == [
        {"range": {"ts": {"gte": "now-7d", "lte": "now", "format": "strict_date_optional_time"}}}
    ]
    hours = body["aggs"]["2"]["histogram"]
    assert hours["script"] == {"source": "doc['ts'].value.getHour()", "lang": "painless"}
    assert (hours["interval"], hours["min_doc_count"]) == (1, 1)
    assert hours["extended_bounds"] == {"min": 0, "max": 23}
    devices = body["aggs"]["2"]["aggs"]["3"]
    assert devices["terms"] == {"field": "device_id", "size": 20, "order": {"_key": "asc"}}
    assert devices["aggs"] == {"1": {"avg": {"field": "temperature"}}}
    assert shown["sensor-hourly-temperature"].index == "sensor-log-*"


def test_the_over_time_panel_sends_an_hourly_calendar_histogram_with_avg_and_max(shown):
    body = shown["sensor-humidity-over-time"].search("now-1h", "now")
    hours = body["aggs"]["2"]["date_histogram"]
    assert hours == {
        "field": "ts",
        "calendar_interval": "1h",
        "time_zone": "UTC",
        "min_doc_count": 1,
    }
    metrics = body["aggs"]["2"]["aggs"]["3"]["aggs"]
    assert metrics == {"1": {"avg": {"field": "humidity"}}, "4": {"max": {"field": "humidity"}}}


def test_the_answer_flattens_to_one_row_per_innermost_bucket(shown):
    panel = shown["sensor-temperature-over-time"]
    answer = {
        "2": {
            "buckets": [
                {
                    "key": 1_795_341_600_000,
                    "doc_count": 3,
                    "3": {
                        "buckets": [
                            {
                                "key": "pi-1",
                                "doc_count": 3,
                                "1": {"value": 21.0},
                                "4": {"value": 23.0},
                            }
                        ]
                    },
                }
            ]
        }
    }
    assert panel.rows(answer) == [
        Row({"2": 1_795_341_600_000, "3": "pi-1"}, {"1": 21.0, "4": 23.0}, 3)
    ]
    drawn = figure(panel, panel.rows(answer))
    assert drawn.axes[0].get_title(loc="left") == panel.title
    assert drawn.axes[0].get_ylabel() == "Temperature (°C)"
    assert drawn.axes[0].get_xlabel() == "Hour (UTC)"


def test_what_the_saved_objects_do_not_use_is_refused_with_its_name(shown):
    panel = shown["sensor-hourly-humidity"]
    pie = type(panel)(**{**panel.__dict__, "kind": "pie"})
    with pytest.raises(Unsupported, match="a pie chart of"):
        figure(pie, [])
    aggs = [{**a, "type": "percentiles"} if a["schema"] == "metric" else a for a in panel.aggs]
    with pytest.raises(Unsupported, match="the percentiles aggregation"):
        type(panel)(**{**panel.__dict__, "aggs": aggs}).search("now-1d", "now")
