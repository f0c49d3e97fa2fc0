"""Where CTAS output is, which files are data, and how long a failed batch waits."""

import pytest

from compactor.files import is_data_file, split_s3_uri
from compactor.runner import MAX_RETRY_DELAY, retry_delay


def test_split_s3_uri_always_gives_a_folder():
    assert split_s3_uri("s3://results/tables/q-1") == ("results", "tables/q-1/")
    assert split_s3_uri("s3://results/a/tables/q-1/") == ("results", "a/tables/q-1/")


@pytest.mark.parametrize("uri", ["results/tables/q", "s3://results", "s3://results/", "s3:///x/"])
def test_split_s3_uri_refuses_what_is_not_a_folder_in_a_bucket(uri):
    with pytest.raises(ValueError, match=r"s3://|folder"):
        split_s3_uri(uri)


def test_data_files_exclude_hidden_and_marker_files():
    assert is_data_file("tables/q/20250701_000001_00000_abcde")
    assert is_data_file("tables/q/q_0.parquet")
    assert not is_data_file("tables/q/_SUCCESS")
    assert not is_data_file("tables/q/.hidden")
    assert not is_data_file("tables/q/")


def test_retry_delay_grows_and_is_capped():
    delays = [retry_delay(n) for n in range(10)]
    assert delays == sorted(delays)
    assert delays[0].total_seconds() == 60
    assert delays[-1] == MAX_RETRY_DELAY
