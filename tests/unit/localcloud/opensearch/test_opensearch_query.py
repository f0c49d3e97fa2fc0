"""Queries, sorting, paging and `_source` filtering of the emulated OpenSearch's `_search`."""

import pytest

from localcloud.opensearch.dates import format_date, now_millis
from localcloud.opensearch.errors import OpenSearchError
from localcloud.opensearch.search import count, search
from localcloud.opensearch.store import Store

MAPPINGS = {
    "properties": {
        "device_id": {"type": "keyword"},
        "note": {"type": "text"},
        "ts": {"type": "date"},
        "temperature": {"type": "double"},
        "seq": {"type": "long"},
        "flags": {"type": "keyword"},
        "pos": {"properties": {"pitch": {"type": "double"}}},
    }
}
HOUR = 3_600_000


@pytest.fixture
def store():
    now = now_millis()
    store = Store()
    store.put_template(
        "readings", {"index_patterns": ["readings"], "template": {"mappings": MAPPINGS}}
    )
    store.create_index("readings")
    docs = {
        "a": {
            "device_id": "sensehat-01",
            "note": "Warm lab bench",
            "ts": now - 10 * 60_000,
            "temperature": 24.0,
            "seq": 1,
        },
        "b": {
            "device_id": "sensehat-01",
            "note": "cold window",
            "ts": now - 2 * HOUR,
            "temperature": 12.5,
            "seq": 2,
        },
        "c": {
            "device_id": "sensehat-02",
            "note": "lab window",
            "ts": now - 30 * HOUR,
            "temperature": 18.0,
            "seq": 3,
            "flags": ["humidity_out_of_range"],
        },
        "d": {
            "device_id": "sensehat-02",
            "ts": "2020-01-15T10:00:00.000Z",
            "temperature": 30.5,
            "seq": 4,
            "pos": {"pitch": 1.5},
        },
        "e": {
            "device_id": "pi-zero",
            "note": "Bench in the LAB",
            "ts": "2020-01-15T23:30:00.000Z",
            "seq": 5,
        },
    }
    for doc_id, source in docs.items():
        if isinstance(source["ts"], int):
            source["ts"] = format_date(source["ts"])
        store.index_document("readings", doc_id, source)
    return store


def ids(store, query, **body):
    response = search(store, "readings", {"query": query, "size": 100, **body}, {})
    return sorted(hit["_id"] for hit in response["hits"]["hits"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"match_all": {}}, ["a", "b", "c", "d", "e"]),
        ({"term": {"device_id": "sensehat-02"}}, ["c", "d"]),
        ({"term": {"device_id": {"value": "sensehat-02"}}}, ["c", "d"]),
        ({"term": {"device_id": "SENSEHAT-02"}}, []),
        ({"term": {"note": "lab"}}, ["a", "c", "e"]),  # text: terms meet analysed tokens
        ({"term": {"note": "Lab"}}, []),
        ({"term": {"seq": "3"}}, ["c"]),
        ({"term": {"unmapped": "x"}}, []),
        ({"range": {"temperature": {"gte": 18, "lt": 30.5}}}, ["a", "c"]),
        ({"range": {"temperature": {"gt": 18}}}, ["a", "d"]),
        ({"range": {"seq": {"gte": 1.5, "lte": 3.5}}}, ["b", "c"]),
        ({"range": {"device_id": {"gte": "sensehat"}}}, ["a", "b", "c", "d"]),
        ({"range": {"ts": {"gte": "now-1h"}}}, ["a"]),
        ({"range": {"ts": {"gte": "now-1d", "lt": "now-1h"}}}, ["b"]),
        (
            {"range": {"ts": {"gte": "2020-01-15", "lte": "2020-01-15"}}},
            ["d", "e"],
        ),  # lte rounds up
        ({"range": {"ts": {"gt": "2020-01-15||/d"}}}, ["a", "b", "c"]),  # gt excludes the whole day
        (
            {
                "range": {
                    "ts": {
                        "gte": "2020-01-15T11:00",
                        "lt": "2020-01-16T00:00",
                        "format": "strict_date_optional_time",
                        "time_zone": "+01:00",
                    }
                }
            },
            ["d"],
        ),
    ],
)
def test_query(store, query, expected):
    assert ids(store, query) == expected


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        (
            {
                "must": {"term": {"device_id": "sensehat-01"}},
                "must_not": [{"range": {"temperature": {"lt": 20}}}],
            },
            ["a"],
        ),
        (
            {
                "filter": [
                    {"term": {"device_id": "sensehat-02"}},
                    {"range": {"pos.pitch": {"gt": 0}}},
                ]
            },
            ["d"],
        ),
        (
            {"should": [{"term": {"seq": 1}}, {"term": {"seq": 5}}]},
            ["a", "e"],
        ),  # one should is enough
        (
            {"must": [{"term": {"device_id": "sensehat-01"}}], "should": [{"term": {"seq": 99}}]},
            ["a", "b"],
        ),
        ({"must_not": {"range": {"seq": {"lte": 4}}}}, ["e"]),
    ],
)
def test_bool_query(store, clauses, expected):
    assert ids(store, {"bool": clauses}) == expected


def test_count_uses_the_same_queries(store):
    assert (
        count(store, "readings", {"query": {"term": {"device_id": "sensehat-02"}}}, {})["count"]
        == 2
    )
    assert count(store, None, None, {})["count"] == 5


def test_sort_by_fields_with_missing_values_last(store):
    response = search(store, "readings", {"sort": [{"temperature": "desc"}, {"seq": "asc"}]}, {})
    hits = response["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["d", "a", "c", "b", "e"]
    assert hits[0]["sort"] == [30.5, 4] and hits[0]["_score"] is None
    assert hits[-1]["sort"] == [None, 5]
    ascending = search(store, "readings", {"sort": [{"temperature": {"order": "asc"}}]}, {})
    assert [h["_id"] for h in ascending["hits"]["hits"]] == ["b", "c", "a", "d", "e"]


def test_sort_by_date_returns_epoch_millis(store):
    hit = search(store, "readings", {"sort": [{"ts": "asc"}], "size": 1}, {})["hits"]["hits"][0]
    assert hit["_id"] == "d"
    assert isinstance(hit["sort"][0], int)


def test_sort_errors_match_opensearch(store):
    with pytest.raises(OpenSearchError, match=r"No mapping found for \[nope\] in order to sort on"):
        search(store, "readings", {"sort": [{"nope": "asc"}]}, {})
    with pytest.raises(OpenSearchError, match="fielddata"):
        search(store, "readings", {"sort": [{"note": "asc"}]}, {})
    for sort in (["seq"], [{"seq": {"order": "asc", "missing": "_first"}}]):
        with pytest.raises(OpenSearchError, match="not supported by the emulated OpenSearch"):
            search(store, "readings", {"sort": sort}, {})


def test_paging(store):
    page = search(store, "readings", {"sort": [{"seq": "asc"}], "from": 1, "size": 2}, {})
    assert [h["_id"] for h in page["hits"]["hits"]] == ["b", "c"]
    assert page["hits"]["total"] == {"value": 5, "relation": "eq"}
    with pytest.raises(OpenSearchError, match=r"URL parameter \[size\] of _search"):
        search(store, "readings", {}, {"size": "1"})


def test_track_total_hits(store):
    limited = search(store, "readings", {"track_total_hits": 3}, {})
    assert limited["hits"]["total"] == {"value": 3, "relation": "gte"}
    assert "total" not in search(store, "readings", {"track_total_hits": False}, {})["hits"]
    assert search(store, "readings", {}, {"rest_total_hits_as_int": "true"})["hits"]["total"] == 5


def test_result_window_is_limited(store):
    with pytest.raises(OpenSearchError, match="Result window is too large"):
        search(store, "readings", {"from": 9_995, "size": 10}, {})


def test_source_is_all_or_nothing(store):
    def source(spec):
        body = {"query": {"term": {"seq": 4}}, "_source": spec}
        return search(store, "readings", body, {})["hits"]["hits"][0].get("_source")

    assert source(True)["device_id"] == "sensehat-02"
    assert source(False) is None
    with pytest.raises(OpenSearchError, match="_source filtering"):
        source(["device_id"])


@pytest.mark.parametrize(
    "key", ["search_after", "post_filter", "docvalue_fields", "pit", "version"]
)
def test_search_features_nothing_uses_are_refused_by_name(store, key):
    with pytest.raises(OpenSearchError, match=rf"\[{key}\] in a search request is not supported"):
        search(store, "readings", {key: [1]}, {})


def test_index_expressions(store):
    store.create_index("sensor-log-2026-11-22-10")
    store.create_index("sensor-log-2026-11-22-11")
    store.create_index("other")
    assert store.resolve("sensor-log-*") == ["sensor-log-2026-11-22-10", "sensor-log-2026-11-22-11"]
    assert store.resolve("readings,other") == ["readings", "other"]
    assert store.resolve("*,-sensor-log-*") == ["other", "readings"]
    assert store.resolve("_all") == sorted(store.indices)
    assert store.resolve("nothing-*") == []
    with pytest.raises(OpenSearchError) as caught:
        store.resolve("readings,missing")
    assert caught.value.status == 404 and caught.value.error_type == "index_not_found_exception"
    assert store.resolve("readings,missing", ignore_unavailable=True) == ["readings"]
    empty = search(store, "nothing-*", {}, {})
    assert empty["hits"]["total"]["value"] == 0 and empty["_shards"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"query": {"fuzzy": {"note": "lab"}}},
            "the [fuzzy] query is not supported by the emulated OpenSearch",
        ),
        (
            {"query": {"match": {"note": "lab"}}},
            "the [match] query is not supported by the emulated OpenSearch",
        ),
        ({"query": {"term": {"seq": "three"}}}, "failed to create query"),
        ({"query": {"term": {"seq": 2.5}}}, "has a decimal part"),
        ({"query": {"range": {"ts": {"gte": "yesterday"}}}}, "failed to parse date field"),
        ({"query": {"term": {"a": 1, "b": 2}}}, "doesn't support multiple fields"),
        ({"query": {"bool": {"must": [], "colour": 1}}}, "does not support [colour]"),
        ({"collapse": {"field": "device_id"}}, "not supported by the emulated OpenSearch"),
        ({"querry": {}}, "Unknown key"),
    ],
)
def test_bad_or_unsupported_requests_are_400s(store, body, message):
    with pytest.raises(OpenSearchError) as caught:
        search(store, "readings", body, {})
    assert caught.value.status == 400
    assert message in caught.value.reason
