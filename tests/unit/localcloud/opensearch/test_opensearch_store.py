"""The emulated OpenSearch's store: templates, documents and versions, persistence, ISM."""

import json

import pytest

from localcloud.opensearch.errors import OpenSearchError
from localcloud.opensearch.search import search
from localcloud.opensearch.store import Store

DAY = 86_400_000
SENSOR_TEMPLATE = {
    "index_patterns": ["sensor-log-*"],
    "priority": 10,
    "template": {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"ts": {"type": "date"}, "temperature": {"type": "float"}}},
    },
}
POLICY = {
    "policy": {
        "description": "delete hourly indices after 7 days",
        "default_state": "hot",
        "states": [
            {
                "name": "hot",
                "actions": [],
                "transitions": [{"state_name": "delete", "conditions": {"min_index_age": "7d"}}],
            },
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [{"index_patterns": ["sensor-log-*"], "priority": 100}],
    }
}


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def error_of(call, *args, **kwargs):
    with pytest.raises(OpenSearchError) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------ index templates


def test_template_applies_to_an_index_created_by_its_first_document():
    store = Store()
    store.put_template("sensor-log", SENSOR_TEMPLATE)
    store.index_document(
        "sensor-log-2026-11-22-10",
        "1",
        {"ts": "2026-11-22T10:00:00Z", "temperature": 20.5, "extra": 1},
    )
    index = store.index("sensor-log-2026-11-22-10")
    assert index.mapping.body["properties"]["temperature"] == {"type": "float"}
    assert index.mapping.body["properties"]["extra"] == {
        "type": "long"
    }  # dynamic next to the template
    assert index.replicas == 0
    assert store.index_document("other", "1", {"temperature": "20.5"})[0] == 201
    assert store.index("other").mapping.body["properties"]["temperature"]["type"] == "text"


def test_highest_priority_template_wins_and_the_request_body_overrides_it():
    store = Store()
    store.put_template("sensor-log", SENSOR_TEMPLATE)
    store.put_template(
        "all-sensors",
        {
            "index_patterns": ["sensor-*"],
            "priority": 1,
            "template": {"settings": {"number_of_replicas": 2}},
        },
    )
    store.create_index("sensor-log-a")
    assert store.index("sensor-log-a").replicas == 0
    store.create_index("sensor-b")
    assert store.index("sensor-b").replicas == 2


def test_templates_of_the_same_priority_may_not_overlap():
    store = Store()
    store.put_template("sensor-log", SENSOR_TEMPLATE)
    error = error_of(store.put_template, "clash", {"index_patterns": ["sensor-*"], "priority": 10})
    assert "multiple index templates may not match during index creation" in error.reason
    store.put_template("fine", {"index_patterns": ["other-*"], "priority": 10})
    store.put_template("sensor-log", {**SENSOR_TEMPLATE, "version": 2})  # replacing itself is fine


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"template": {}}, "index patterns are missing"),
        (
            {"index_patterns": ["x-*"], "composed_of": ["base"]},
            "not supported by the emulated OpenSearch",
        ),
        (
            {"index_patterns": ["x-*"], "data_stream": {}},
            "not supported by the emulated OpenSearch",
        ),
        (
            {
                "index_patterns": ["x-*"],
                "template": {"mappings": {"properties": {"g": {"type": "geo_shape"}}}},
            },
            "not supported",
        ),
        ({"index_patterns": ["x-*"], "priority": -1}, "priority must be >= 0"),
    ],
)
def test_invalid_templates_are_rejected(body, message):
    assert message in error_of(Store().put_template, "t", body).reason


# ------------------------------------------------------------ indices and documents


@pytest.mark.parametrize("name", ["Upper", "_private", "a*b", "with space", "a/b", ".", "x" * 256])
def test_invalid_index_names(name):
    error = error_of(Store().create_index, name)
    assert error.error_type == "invalid_index_name_exception"


def test_an_index_exists_once():
    store = Store()
    store.create_index("a")
    assert error_of(store.create_index, "a").error_type == "resource_already_exists_exception"


def test_versions_results_and_conflicts():
    store = Store()
    status, first = store.index_document("i", "1", {"v": 1})
    assert (status, first["result"], first["_version"], first["_seq_no"]) == (201, "created", 1, 0)
    status, second = store.index_document("i", "1", {"v": 2})
    assert (status, second["result"], second["_version"], second["_seq_no"]) == (
        200,
        "updated",
        2,
        1,
    )
    conflict = error_of(store.index_document, "i", "1", {"v": 3}, op_type="create")
    assert conflict.status == 409 and conflict.error_type == "version_conflict_engine_exception"
    assert "document already exists (current version [2])" in conflict.reason
    assert store.index("i").docs["1"].source == {"v": 2}


def test_generated_ids_are_unique():
    store = Store()
    ids = {store.index_document("i", None, {"n": n})[1]["_id"] for n in range(50)}
    assert len(ids) == 50 and all(len(i) == 20 for i in ids)


def test_settings_updates():
    store = Store()
    store.create_index("i")
    store.put_settings("i", {"index": {"number_of_replicas": 0}})
    assert store.index("i").replicas == 0
    assert "non dynamic" in error_of(store.put_settings, "i", {"number_of_shards": 3}).reason


# ------------------------------------------------------------ persistence


def fill(store):
    store.put_template("sensor-log", SENSOR_TEMPLATE)
    store.put_policy("retention", POLICY, None, None)
    store.put_security(
        "rolesmapping",
        "all_access",
        {"backend_roles": ["arn:aws:iam::123456789012:role/installer"]},
    )
    store.index_document(
        "sensor-log-2026-11-22-10",
        "a",
        {"ts": "2026-11-22T10:00:00Z", "temperature": 20.5, "note": "first"},
    )
    store.index_document(
        "sensor-log-2026-11-22-10", "b", {"ts": "2026-11-22T10:30:00Z", "temperature": 21.5}
    )
    store.index_document(
        "sensor-log-2026-11-22-10", "a", {"ts": "2026-11-22T10:00:00Z", "temperature": 22.5}
    )
    store.index_document(
        "sensor-log-2026-11-22-11", "c", {"ts": "2026-11-22T11:00:00Z", "temperature": 19.0}
    )
    store.index_document("gone", "x", {})
    store.delete_index("gone")


def snapshot(store):
    return {
        name: {
            "mapping": index.mapping.body,
            "settings": index.settings,
            "docs": {d.id: (d.source, d.version, d.seq_no) for d in index.docs.values()},
            "ism": index.ism,
            "next_seq_no": index.next_seq_no,
        }
        for name, index in store.indices.items()
    }


def test_a_restart_keeps_everything(tmp_path):
    store = Store(tmp_path)
    fill(store)
    before = snapshot(store)
    store.close()
    again = Store(tmp_path)
    assert snapshot(again) == before
    assert again.templates == store.templates
    assert again.ism_policies == store.ism_policies
    assert again.roles_mapping == store.roles_mapping
    assert again.cluster_uuid == store.cluster_uuid
    assert "gone" not in again.indices
    # the reloaded documents are searchable with their typed values
    response = search(again, "sensor-log-*", {"query": {"range": {"temperature": {"gte": 22}}}}, {})
    assert [h["_id"] for h in response["hits"]["hits"]] == ["a"]
    assert (
        again.index_document("sensor-log-2026-11-22-10", "b", {"temperature": 1.0})[1]["_version"]
        == 2
    )


def test_an_unclosed_store_reloads_from_its_journal(tmp_path):
    store = Store(tmp_path)
    fill(store)
    store.flush()  # the end of a request; the process then dies without close()
    before = snapshot(store)
    assert snapshot(Store(tmp_path)) == before


def test_a_cut_off_journal_line_is_skipped(tmp_path):
    store = Store(tmp_path)
    store.index_document("i", "1", {"a": 1})
    store.index_document("i", "2", {"a": 2})
    store.close()
    journal = tmp_path / "indices" / "i" / "docs.jsonl"
    journal.write_text(journal.read_text() + '{"op":"index","_id":"3","_sou')
    assert sorted(Store(tmp_path).index("i").docs) == ["1", "2"]


def test_close_compacts_the_journal(tmp_path):
    store = Store(tmp_path)
    for version in range(5):
        store.index_document("i", "1", {"v": version})
    store.close()
    lines = (tmp_path / "indices" / "i" / "docs.jsonl").read_text().splitlines()
    assert [json.loads(line)["_source"] for line in lines] == [{"v": 4}]


# ------------------------------------------------------------ ISM


def test_ism_deletes_matching_indices_after_their_age():
    clock = Clock(1_795_341_600_000)
    store = Store(clock=clock)
    store.put_policy("retention", POLICY, None, None)
    store.index_document("sensor-log-2026-11-22-10", "1", {"a": 1})
    store.index_document("keep-me", "1", {"a": 1})
    assert store.index("sensor-log-2026-11-22-10").ism["policy_id"] == "retention"
    assert store.index("keep-me").ism is None
    assert store.run_ism(clock.now + 6 * DAY) == []
    assert store.index("sensor-log-2026-11-22-10").ism["state"]["name"] == "hot"
    assert store.run_ism(clock.now + 7 * DAY) == ["sensor-log-2026-11-22-10"]
    assert set(store.indices) == {"keep-me"}


def test_ism_template_applies_only_to_indices_created_after_it():
    clock = Clock(1_000)
    store = Store(clock=clock)
    store.create_index("sensor-log-old")
    clock.now = 2_000
    store.put_policy("retention", POLICY, None, None)
    assert store.index("sensor-log-old").ism is None
    store.attach_policy(["sensor-log-old"], "retention")
    assert store.run_ism(2_000 + 8 * DAY) == ["sensor-log-old"]


def test_ism_records_actions_it_does_not_run():
    store = Store()
    policy = {
        "policy": {
            "default_state": "warm",
            "states": [{"name": "warm", "actions": [{"replica_count": {"number_of_replicas": 0}}]}],
        }
    }
    store.put_policy("p", policy, None, None)
    store.create_index("i")
    store.attach_policy(["i"], "p")
    store.run_ism()
    assert "not run by the emulated OpenSearch" in store.index("i").ism["info"]["message"]


def test_ism_policy_versions():
    store = Store()
    status, created = store.put_policy("retention", POLICY, None, None)
    assert status == 201 and created["_version"] == 1
    assert created["policy"]["policy"]["policy_id"] == "retention"
    conflict = error_of(store.put_policy, "retention", POLICY, None, None)
    assert conflict.status == 409
    status, updated = store.put_policy("retention", POLICY, created["_seq_no"], 1)
    assert status == 200 and updated["_version"] == 2
    assert error_of(store.put_policy, "retention", POLICY, created["_seq_no"], 1).status == 409
    assert error_of(store.policy, "nope").status == 404


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"default_state": "nope", "states": [{"name": "hot"}]}, "does not exist in the states"),
        (
            {
                "default_state": "hot",
                "states": [{"name": "hot", "transitions": [{"state_name": "x"}]}],
            },
            "which does not exist",
        ),
        ({"default_state": "hot", "states": []}, "at least one state"),
        (
            {
                "default_state": "hot",
                "states": [
                    {
                        "name": "hot",
                        "transitions": [
                            {"state_name": "hot", "conditions": {"min_index_age": "seven"}}
                        ],
                    }
                ],
            },
            "as a time value",
        ),
    ],
)
def test_invalid_ism_policies(policy, message):
    assert message in error_of(Store().put_policy, "p", {"policy": policy}, None, None).reason


def test_roles_mapping_is_stored_and_validated():
    store = Store()
    assert (
        store.put_security(
            "rolesmapping", "all_access", {"backend_roles": ["arn:aws:iam::1:role/x"]}
        )
        is True
    )
    assert store.put_security("rolesmapping", "all_access", {"users": ["admin"]}) is False
    assert store.roles_mapping["all_access"]["users"] == ["admin"]
    assert (
        "unknown keys" in error_of(store.put_security, "rolesmapping", "r", {"colour": []}).reason
    )
    assert (
        "list of strings"
        in error_of(store.put_security, "rolesmapping", "r", {"users": "admin"}).reason
    )


def test_security_roles_are_stored_and_validated():
    store = Store()
    role = {
        "cluster_permissions": ["cluster_monitor"],
        "index_permissions": [{"index_patterns": ["sensor-log-*"], "allowed_actions": ["crud"]}],
    }
    assert store.put_security("roles", "writer", role) is True
    assert store.security_table("roles")["writer"]["index_permissions"] == role["index_permissions"]
    assert "writer" not in store.security_table("rolesmapping")
    assert "unknown keys" in error_of(store.put_security, "roles", "r", {"colour": []}).reason
    bad = {"index_permissions": [{"allowed_actions": ["crud"]}]}
    assert "index_patterns" in error_of(store.put_security, "roles", "r", bad).reason
