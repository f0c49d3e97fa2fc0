"""The ISM retention policy of the rotated indices."""

import pytest

from search_setup.ism import policy_id, retention_policy


def test_indices_are_deleted_after_the_retention_days():
    policy = retention_policy("sensor-log", 30)["policy"]
    states = {state["name"]: state for state in policy["states"]}
    assert policy["default_state"] == "hot"
    (transition,) = states["hot"]["transitions"]
    assert transition == {"state_name": "delete", "conditions": {"min_index_age": "30d"}}
    assert states["delete"]["actions"] == [{"delete": {}}]


def test_new_rotated_indices_get_the_policy():
    policy = retention_policy("plant-log", 7)["policy"]
    assert policy["ism_template"] == [{"index_patterns": ["plant-log-*"], "priority": 100}]
    assert policy_id("plant-log") == "plant-log-retention"


def test_a_retention_below_one_day_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        retention_policy("sensor-log", 0)
