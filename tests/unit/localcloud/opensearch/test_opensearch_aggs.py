"""Aggregations of the emulated OpenSearch against values computed by hand.

Readings (UTC, 2026-11-22):
    d1  10:05  20.5 degC  40 %RH      d2  10:20  18.0  60      d3  12:59  25.0  30
    d1  10:40  21.5       42          d2  11:15  19.0  62
    d1  12:10  23.0       50
Temperatures are exact in 32 bits, so the `float` mapping does not round them.
"""

import pytest

from localcloud.opensearch.errors import OpenSearchError
from localcloud.opensearch.search import search
from localcloud.opensearch.store import Store

T0 = 1795341600000  # 2026-11-22T10:00:00Z
MIN = 60_000
HOUR = 60 * MIN
READINGS = [
    ("d1", "10:05", 20.5, 40),
    ("d1", "10:40", 21.5, 42),
    ("d1", "12:10", 23.0, 50),
    ("d2", "10:20", 18.0, 60),
    ("d2", "11:15", 19.0, 62),
    ("d3", "12:59", 25.0, 30),
]
TEMPLATE = {
    "index_patterns": ["sensor-log-*"],
    "template": {
        "mappings": {
            "properties": {
                "device_id": {"type": "keyword"},
                "ts": {"type": "date"},
                "temperature": {"type": "float"},
                "humidity": {"type": "float"},
                "note": {"type": "text"},
            }
        }
    },
}


@pytest.fixture
def store():
    store = Store()
    store.put_template("sensor-log", TEMPLATE)
    for seq, (device, clock, temperature, humidity) in enumerate(READINGS):
        hour = clock.split(":")[0]
        doc = {
            "device_id": device,
            "ts": f"2026-11-22T{clock}:00.000Z",
            "temperature": temperature,
            "humidity": humidity,
            "note": "reading",
        }
        store.index_document(f"sensor-log-2026-11-22-{hour}", str(seq), doc)
    return store


def aggs(store, spec, query=None):
    body = {"size": 0, "aggs": spec}
    if query:
        body["query"] = query
    return search(store, "sensor-log-*", body, {})["aggregations"]


def test_metrics(store):
    result = aggs(
        store,
        {
            "avg_t": {"avg": {"field": "temperature"}},
            "max_t": {"max": {"field": "temperature"}},
            "devices": {"cardinality": {"field": "device_id"}},
        },
    )
    assert result["avg_t"] == {"value": pytest.approx(127.0 / 6)}
    assert result["max_t"] == {"value": 25.0}
    assert result["devices"] == {"value": 3}


def test_metrics_of_no_documents(store):
    result = aggs(
        store,
        {"a": {"avg": {"field": "temperature"}}, "n": {"cardinality": {"field": "device_id"}}},
        query={"term": {"device_id": "nobody"}},
    )
    assert result == {"a": {"value": None}, "n": {"value": 0}}


def test_date_metrics_have_value_as_string(store):
    result = aggs(store, {"last": {"max": {"field": "ts"}}})
    assert result["last"] == {
        "value": float(T0 + 2 * HOUR + 59 * MIN),
        "value_as_string": "2026-11-22T12:59:00.000Z",
    }


def test_avg_temperature_and_humidity_per_hour(store):
    result = aggs(
        store,
        {
            "per_hour": {
                "date_histogram": {"field": "ts", "calendar_interval": "hour"},
                "aggs": {
                    "t": {"avg": {"field": "temperature"}},
                    "h": {"avg": {"field": "humidity"}},
                },
            }
        },
    )
    buckets = result["per_hour"]["buckets"]
    assert [b["key"] for b in buckets] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert [b["key_as_string"] for b in buckets] == [
        "2026-11-22T10:00:00.000Z",
        "2026-11-22T11:00:00.000Z",
        "2026-11-22T12:00:00.000Z",
    ]
    assert [b["doc_count"] for b in buckets] == [3, 1, 2]
    assert [b["t"]["value"] for b in buckets] == [20.0, 19.0, 24.0]
    assert [b["h"]["value"] for b in buckets] == [pytest.approx(142 / 3), 62.0, 40.0]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("date_histogram", {"fixed_interval": "30m"}, "[fixed_interval] in date_histogram"),
        ("date_histogram", {"interval": "1h"}, "[interval] in date_histogram"),
        ("date_histogram", {"calendar_interval": "1h", "offset": "+1h"}, "[offset]"),
        ("date_histogram", {"calendar_interval": "1h", "hard_bounds": {}}, "[hard_bounds]"),
        ("date_histogram", {"calendar_interval": "1h", "keyed": True}, "[keyed]"),
        ("terms", {"missing": "none"}, "[missing]"),
        ("terms", {"include": ["d1"]}, "[include]"),
        ("terms", {"exclude": "d[12]"}, "[exclude]"),
        ("terms", {"order": {"hottest": "desc"}}, "ordering buckets by [hottest]"),
    ],
)
def test_options_nothing_sends_are_refused_by_name(store, kind, params, message):
    field = "ts" if kind == "date_histogram" else "device_id"
    with pytest.raises(OpenSearchError) as caught:
        aggs(store, {"x": {kind: {"field": field, **params}}})
    assert caught.value.status == 400
    assert message in caught.value.reason
    assert "not supported by the emulated OpenSearch" in caught.value.reason


def test_extended_bounds_add_buckets_before_and_after(store):
    spec = {
        "date_histogram": {
            "field": "ts",
            "calendar_interval": "1h",
            "extended_bounds": {"min": "2026-11-22T08:00:00Z", "max": T0 + 3 * HOUR + 5 * MIN},
        }
    }
    buckets = aggs(store, {"h": spec})["h"]["buckets"]
    assert [b["key"] for b in buckets] == [T0 + k * HOUR for k in range(-2, 4)]
    assert [b["doc_count"] for b in buckets] == [0, 0, 3, 1, 2, 0]


@pytest.mark.parametrize(
    ("interval", "key", "key_as_string"),
    [
        ("day", T0 - 10 * HOUR, "2026-11-22T00:00:00.000Z"),
        ("week", T0 - 10 * HOUR - 6 * 24 * HOUR, "2026-11-16T00:00:00.000Z"),  # the Monday before
        ("month", 1793491200000, "2026-11-01T00:00:00.000Z"),
        ("year", 1767225600000, "2026-01-01T00:00:00.000Z"),
    ],
)
def test_calendar_intervals(store, interval, key, key_as_string):
    buckets = aggs(
        store, {"h": {"date_histogram": {"field": "ts", "calendar_interval": interval}}}
    )["h"]["buckets"]
    assert buckets == [{"key": key, "key_as_string": key_as_string, "doc_count": 6}]


def test_time_zone_moves_boundaries_and_labels(store):
    day = aggs(
        store,
        {
            "h": {
                "date_histogram": {"field": "ts", "calendar_interval": "day", "time_zone": "+12:00"}
            }
        },
    )
    # 10:05Z..11:59Z is still 22 Nov at +12:00; 12:10Z and later is already 23 Nov.
    assert [(b["key_as_string"], b["doc_count"]) for b in day["h"]["buckets"]] == [
        ("2026-11-22T00:00:00.000+12:00", 4),
        ("2026-11-23T00:00:00.000+12:00", 2),
    ]
    assert day["h"]["buckets"][0]["key"] == T0 - 22 * HOUR
    hour = aggs(
        store,
        {
            "h": {
                "date_histogram": {
                    "field": "ts",
                    "calendar_interval": "hour",
                    "time_zone": "Europe/Berlin",
                }
            }
        },
    )
    assert hour["h"]["buckets"][0]["key_as_string"] == "2026-11-22T11:00:00.000+01:00"
    bounded = {
        "date_histogram": {
            "field": "ts",
            "calendar_interval": "hour",
            "time_zone": "+01:00",
            "extended_bounds": {"min": "2026-11-22T09:00:00"},  # local time: 08:00Z
        }
    }
    first = aggs(store, {"h": bounded})["h"]["buckets"][0]
    assert (first["key"], first["doc_count"]) == (T0 - 2 * HOUR, 0)


def test_date_histogram_format_and_order(store):
    spec = {
        "date_histogram": {
            "field": "ts",
            "calendar_interval": "hour",
            "format": "epoch_millis",
            "order": {"_count": "desc"},
        }
    }
    buckets = aggs(store, {"h": spec})["h"]["buckets"]
    hours = [str(T0 + h * 3_600_000) for h in (0, 2, 1)]
    assert [b["key_as_string"] for b in buckets] == hours
    assert buckets[1]["doc_count"] == 2


def test_date_histogram_interval_errors(store):
    cases = [
        ({"field": "ts", "calendar_interval": "2h"}, "could not be parsed as a calendar interval"),
        ({"field": "ts"}, "Invalid interval specified"),
        (
            {"field": "device_id", "calendar_interval": "hour"},
            "is not supported for aggregation [date_histogram]",
        ),
    ]
    for params, message in cases:
        with pytest.raises(OpenSearchError) as caught:
            aggs(store, {"h": {"date_histogram": params}})
        assert caught.value.status == 400 and message in caught.value.reason


def test_too_many_buckets(store):
    spec = {"field": "ts", "calendar_interval": "minute", "extended_bounds": {"min": "2026"}}
    with pytest.raises(OpenSearchError) as caught:
        aggs(store, {"h": {"date_histogram": spec}})
    assert caught.value.error_type == "too_many_buckets_exception"


def test_terms_by_device_with_max_temperature(store):
    result = aggs(
        store,
        {
            "devices": {
                "terms": {"field": "device_id"},
                "aggs": {"hottest": {"max": {"field": "temperature"}}},
            }
        },
    )
    assert result["devices"] == {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": 0,
        "buckets": [
            {"key": "d1", "doc_count": 3, "hottest": {"value": 23.0}},
            {"key": "d2", "doc_count": 2, "hottest": {"value": 19.0}},
            {"key": "d3", "doc_count": 1, "hottest": {"value": 25.0}},
        ],
    }


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"order": {"_key": "desc"}}, ["d3", "d2", "d1"]),
        ({"order": {"_count": "asc"}}, ["d3", "d2", "d1"]),
        ({"min_doc_count": 2}, ["d1", "d2"]),
    ],
)
def test_terms_order_and_filters(store, params, keys):
    spec = {
        "terms": {"field": "device_id", **params},
        "aggs": {
            "hottest": {"max": {"field": "temperature"}},
            "mean": {"avg": {"field": "temperature"}},
        },
    }
    assert [b["key"] for b in aggs(store, {"d": spec})["d"]["buckets"]] == keys


def test_terms_size_counts_the_rest(store):
    result = aggs(store, {"d": {"terms": {"field": "device_id", "size": 1}}})
    assert [b["key"] for b in result["d"]["buckets"]] == ["d1"]
    assert result["d"]["sum_other_doc_count"] == 3


def test_terms_on_numbers_and_missing_values(store):
    store.index_document(
        "sensor-log-2026-11-22-13",
        "x",
        {"device_id": "d4", "ts": "2026-11-22T13:00:00Z", "temperature": 18.0},
    )
    result = aggs(
        store,
        {
            "t": {"terms": {"field": "temperature", "size": 2}},
        },
    )
    assert result["t"]["buckets"][0] == {"key": 18.0, "doc_count": 2}


def test_histogram(store):
    result = aggs(store, {"t": {"histogram": {"field": "temperature", "interval": 5}}})
    assert result["t"]["buckets"] == [
        {"key": 15.0, "doc_count": 2},
        {"key": 20.0, "doc_count": 3},
        {"key": 25.0, "doc_count": 1},
    ]
    gapped = aggs(
        store,
        {
            "t": {
                "histogram": {
                    "field": "humidity",
                    "interval": 10,
                    "extended_bounds": {"min": 0, "max": 70},
                }
            }
        },
    )
    assert [(b["key"], b["doc_count"]) for b in gapped["t"]["buckets"]] == [
        (0.0, 0),
        (10.0, 0),
        (20.0, 0),
        (30.0, 1),
        (40.0, 2),
        (50.0, 1),
        (60.0, 2),
        (70.0, 0),
    ]


def test_nested_buckets(store):
    spec = {
        "date_histogram": {"field": "ts", "calendar_interval": "hour", "min_doc_count": 1},
        "aggs": {
            "devices": {
                "terms": {"field": "device_id"},
                "aggs": {"t": {"max": {"field": "temperature"}}},
            }
        },
    }
    buckets = aggs(store, {"h": spec})["h"]["buckets"]
    first = buckets[0]["devices"]["buckets"]
    assert [(b["key"], b["doc_count"], b["t"]["value"]) for b in first] == [
        ("d1", 2, 21.5),
        ("d2", 1, 18.0),
    ]


def test_typed_keys(store):
    body = {
        "size": 0,
        "aggs": {"d": {"terms": {"field": "device_id"}}, "a": {"avg": {"field": "humidity"}}},
    }
    result = search(store, "sensor-log-*", body, {"typed_keys": "true"})["aggregations"]
    assert set(result) == {"sterms#d", "avg#a"}


def test_histogram_of_the_dashboards_scripted_hour_of_day(store):
    """As Dashboards sends the index pattern's scripted field `hour_of_day`: the UTC hour."""
    script = {"source": "doc['ts'].value.getHour()", "lang": "painless"}
    spec = {
        "hours": {
            "histogram": {
                "script": script,
                "interval": 1,
                "min_doc_count": 1,
                "extended_bounds": {"min": 0, "max": 23},
            },
            "aggs": {"t": {"avg": {"field": "temperature"}}},
        }
    }
    buckets = aggs(store, spec)["hours"]["buckets"]
    assert [(b["key"], b["doc_count"], b["t"]["value"]) for b in buckets] == [
        (10.0, 3, pytest.approx(20.0)),
        (11.0, 1, 19.0),
        (12.0, 2, 24.0),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"avg": {"field": "device_id"}},
            "Field [device_id] of type [keyword] is not supported for aggregation [avg]",
        ),
        ({"terms": {"field": "note"}}, "Text fields are not optimised"),
        (
            {"percentiles": {"field": "temperature"}},
            "the [percentiles] aggregation is not supported by the emulated OpenSearch",
        ),
        ({"avg": {"script": "doc.x"}}, "not supported by the emulated OpenSearch"),
        (
            {"histogram": {"script": {"source": "doc['ts'].value.getDayOfWeek()"}, "interval": 1}},
            "the script [doc['ts'].value.getDayOfWeek()] is not supported",
        ),
        (
            {"histogram": {"script": {"source": "doc['nope'].value.getHour()"}, "interval": 1}},
            "A document doesn't have a value for a field!",
        ),
        (
            {"avg": {"field": "temperature"}, "aggs": {"x": {"max": {"field": "humidity"}}}},
            "cannot accept sub-aggregations",
        ),
        ({"avg": {}}, "Required one of fields [field, script]"),
    ],
)
def test_aggregation_errors(store, spec, message):
    with pytest.raises(OpenSearchError) as caught:
        aggs(store, {"x": spec})
    assert caught.value.status == 400
    assert message in caught.value.reason


def test_float_fields_aggregate_their_32_bit_values():
    store = Store()
    store.put_template("sensor-log", TEMPLATE)
    store.index_document("sensor-log-x", "1", {"temperature": 21.3})
    store.index_document("sensor-log-x", "2", {"temperature": 21.3})
    result = aggs(store, {"a": {"avg": {"field": "temperature"}}})
    assert result["a"]["value"] == 21.299999237060547
