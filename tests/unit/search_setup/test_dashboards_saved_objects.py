"""The OpenSearch Dashboards saved objects (dashboards/opensearch/saved-objects.ndjson): they
use only fields the index template maps, with types their aggregations accept, and every
reference resolves within the file."""

import email.parser
import email.policy
import json

import pytest

from cdk_app.search import SAVED_OBJECTS
from search_setup.dashboards import for_index, multipart, parse
from search_setup.index_template import index_template

MAPPING = index_template("sensor-log")["template"]["mappings"]["properties"]
# Dashboards' field types for OpenSearch field types
KINDS = {
    "integer": "number",
    "long": "number",
    "float": "number",
    "keyword": "string",
    "date": "date",
}
# aggregation -> the Dashboards field types it accepts
AGG_FIELD_TYPES = {
    "avg": {"number"},
    "max": {"number"},
    "histogram": {"number"},
    "date_histogram": {"date"},
    "terms": {"string", "number"},
}


@pytest.fixture(scope="module")
def objects():
    return parse(SAVED_OBJECTS.read_text(encoding="utf-8"))


def of_type(objects, kind):
    return [o for o in objects if o["type"] == kind]


def pattern_fields(objects):
    (pattern,) = of_type(objects, "index-pattern")
    return {f["name"]: f for f in json.loads(pattern["attributes"]["fields"])}


def test_one_index_pattern_four_visualizations_one_dashboard(objects):
    assert [o["type"] for o in objects].count("index-pattern") == 1
    assert len(of_type(objects, "visualization")) == 4
    assert len(of_type(objects, "dashboard")) == 1
    assert len({(o["type"], o["id"]) for o in objects}) == len(objects)


def test_the_index_pattern_covers_the_rotated_indices_by_reading_time(objects):
    (pattern,) = of_type(objects, "index-pattern")
    assert pattern["attributes"]["title"] == "sensor-log-*"
    assert pattern["attributes"]["timeFieldName"] == "ts"


def test_the_index_pattern_lists_every_mapped_field_with_its_type(objects):
    fields = pattern_fields(objects)
    for name, spec in MAPPING.items():
        assert fields[name]["esTypes"] == [spec["type"]], name
        assert fields[name]["type"] == KINDS[spec["type"]], name
        assert fields[name]["aggregatable"] and fields[name]["searchable"], name
    concrete = {n for n, f in fields.items() if not f["scripted"] and not n.startswith("_")}
    assert concrete == set(MAPPING)


def test_hour_of_day_is_a_painless_script_on_the_reading_time(objects):
    hour = pattern_fields(objects)["hour_of_day"]
    assert hour["scripted"] and hour["lang"] == "painless" and hour["type"] == "number"
    assert hour["script"] == "doc['ts'].value.getHour()"
    assert MAPPING["ts"]["type"] == "date"


def test_visualizations_aggregate_fields_of_the_right_type(objects):
    fields = pattern_fields(objects)
    charts = {}
    for vis in of_type(objects, "visualization"):
        state = json.loads(vis["attributes"]["visState"])
        assert state["title"] == vis["attributes"]["title"]
        for agg in state["aggs"]:
            field = fields[agg["params"]["field"]]
            assert field["type"] in AGG_FIELD_TYPES[agg["type"]], (vis["id"], agg)
            assert field["aggregatable"]
        metrics = {a["id"] for a in state["aggs"] if a["schema"] == "metric"}
        assert {s["data"]["id"] for s in state["params"]["seriesParams"]} == metrics
        segment = next(a for a in state["aggs"] if a["schema"] == "segment")
        measured = next(a["params"]["field"] for a in state["aggs"] if a["schema"] == "metric")
        charts[(segment["params"]["field"], measured)] = state["type"]
    assert charts == {
        ("hour_of_day", "temperature"): "histogram",
        ("hour_of_day", "humidity"): "histogram",
        ("ts", "temperature"): "line",
        ("ts", "humidity"): "line",
    }


def test_every_reference_resolves_within_the_file(objects):
    present = {(o["type"], o["id"]) for o in objects}
    for item in objects:
        for reference in item.get("references", []):
            assert (reference["type"], reference["id"]) in present, (item["id"], reference)
    for vis in of_type(objects, "visualization"):
        source = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        names = {r["name"] for r in vis["references"]}
        assert source["indexRefName"] in names


def test_the_dashboard_shows_the_four_visualizations_without_overlap(objects):
    (dashboard,) = of_type(objects, "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r["id"] for r in dashboard["references"]}
    shown = {refs[p["panelRefName"]] for p in panels}
    assert shown == {v["id"] for v in of_type(objects, "visualization")}
    cells = set()
    for panel in panels:
        grid = panel["gridData"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area
        assert grid["x"] + grid["w"] <= 48
        cells |= area


def test_for_index_points_the_pattern_at_the_stack_s_indices(objects):
    rewritten = parse(for_index(SAVED_OBJECTS.read_text(encoding="utf-8"), "plant-log"))
    (pattern,) = of_type(rewritten, "index-pattern")
    assert pattern["attributes"]["title"] == "plant-log-*"
    assert [o for o in rewritten if o["type"] != "index-pattern"] == [
        o for o in objects if o["type"] != "index-pattern"
    ]


def test_bad_ndjson_is_refused_with_its_line():
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        parse('{"type": "config", "id": "x"}\n{oops\n')
    with pytest.raises(ValueError, match="line 1 is not a saved object"):
        parse('{"attributes": {}}\n')


def test_multipart_carries_the_ndjson_as_the_file_part():
    body, content_type = multipart('{"type":"config","id":"x"}\n')
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_payload(decode=True) == b'{"type":"config","id":"x"}\n'
