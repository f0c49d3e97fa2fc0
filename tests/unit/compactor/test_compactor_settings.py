"""The environment the stack sets, checked once with messages that name the variable."""

import pytest
from compactor_events import ENV

from compactor.settings import MAX_THRESHOLD, Settings, SettingsError


def test_defaults_for_threshold_age_and_prefixes():
    env = {
        k: v
        for k, v in ENV.items()
        if k
        not in {
            "COMPACTION_THRESHOLD",
            "COMPACTION_MAX_AGE_MINUTES",
            "RAW_PREFIX",
            "COMPACTED_PREFIX",
        }
    }
    s = Settings.from_env(env)
    assert (s.threshold, s.max_age_minutes) == (20, 60)
    assert (s.raw_prefix, s.compacted_prefix) == ("raw/", "compacted/")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"STATE_TABLE": ""}, "STATE_TABLE is not set"),
        ({"COMPACTION_THRESHOLD": "twenty"}, "COMPACTION_THRESHOLD must be an integer"),
        ({"COMPACTION_THRESHOLD": "1"}, "COMPACTION_THRESHOLD must be between 2 and 98"),
        ({"COMPACTION_THRESHOLD": str(MAX_THRESHOLD + 1)}, "one DynamoDB transaction"),
        ({"COMPACTION_MAX_AGE_MINUTES": "0"}, "COMPACTION_MAX_AGE_MINUTES must be at least 1"),
        ({"RAW_TABLE": "Raw-Table"}, "RAW_TABLE must be a Glue name"),
        ({"DATA_BUCKET": "Not_A_Bucket"}, "DATA_BUCKET is not a valid bucket name"),
        ({"RAW_PREFIX": "raw"}, "RAW_PREFIX must look like 'folder/'"),
        ({"COMPACTED_PREFIX": "raw/"}, "must not contain one another"),
    ],
)
def test_bad_values_are_named(change, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**ENV, **change})


def test_largest_threshold_fits_one_transaction():
    assert Settings.from_env({**ENV, "COMPACTION_THRESHOLD": str(MAX_THRESHOLD)}).threshold == 98
