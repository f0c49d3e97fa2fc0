"""Firehose's S3 prefixes, object names and index names (examples from the Firehose guide)."""

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from localcloud.firehose.naming import (
    OPENSEARCH_FAILED,
    PROCESSING_FAILED,
    PrefixError,
    PrefixPair,
    evaluate_prefix,
    format_java_datetime,
    object_suffix,
    rotated_index_name,
    to_zone,
    us_week,
)

# The guide's examples are evaluated "at 10:30 AM UTC on Aug 27, 2018".
AT = datetime(2018, 8, 27, 10, 30, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy/MM/dd/HH/", "2018/08/27/10/"),
        ("yyyy-MM-dd", "2018-08-27"),
        ("'year='yyyy'/month='MM'/day='dd'/hour='HH", "year=2018/month=08/day=27/hour=10"),
        ("yy", "18"),
        ("y", "2018"),
        ("M/d", "8/27"),
        ("HH:mm:ss.SSS", "10:30:05.123"),
        ("'it''s' HH", "it's 10"),
        ("''", "'"),
        ("yyyy_MM-dd HH", "2018_08-27 10"),
    ],
)
def test_java_datetime_patterns(pattern, expected):
    assert format_java_datetime(pattern, AT) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("yyyy-QQ", "pattern letter 'Q'"),
        ("HHH", "too many pattern letters 'HHH'"),
        ("'open", "unterminated quote"),
        ("MMM", "month names"),
        ("EEE", "pattern letter 'E'"),
        ("hh a", "pattern letter 'h'"),
    ],
)
def test_unsupported_or_invalid_patterns_are_rejected_with_a_reason(pattern, message):
    with pytest.raises(PrefixError, match=message):
        format_java_datetime(pattern, AT)


def test_no_prefix_at_all_is_the_default_hourly_layout():
    pair = PrefixPair.from_config(None, None)
    assert pair.data_prefix(AT) == "2018/08/27/10/"
    assert pair.error_prefix(AT, PROCESSING_FAILED) == "processing-failed/2018/08/27/10/"


def test_guide_example_unspecified_prefix_with_error_prefix():
    pair = PrefixPair.from_config(None, "myFirehoseFailures/!{firehose:error-output-type}/")
    assert pair.data_prefix(AT) == "2018/08/27/10/"
    assert pair.error_prefix(AT, PROCESSING_FAILED) == "myFirehoseFailures/processing-failed/"


def test_guide_example_expression_prefix_without_error_prefix_is_invalid():
    with pytest.raises(PrefixError, match="ErrorOutputPrefix is required"):
        PrefixPair.from_config("!{timestamp:yyyy/MM/dd}", None)


def test_guide_example_random_string_and_repeated_timestamps():
    pair = PrefixPair.from_config(
        "myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}",
        "myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/"
        "!{timestamp:dd}",
    )
    assert re.fullmatch(r"myFirehose/DeliveredYear=2018/anyMonth/rand=.{11}", pair.data_prefix(AT))
    assert (
        pair.error_prefix(AT, PROCESSING_FAILED)
        == "myFirehoseFailures/processing-failed/2018/anyMonth/27"
    )


def test_guide_example_hive_style_partitions_with_quoted_literals():
    pair = PrefixPair.from_config(
        "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
        "hour=!{timestamp:HH}/",
        "myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/"
        "!{firehose:error-output-type}",
    )
    assert pair.data_prefix(AT) == "myPrefix/year=2018/month=08/day=27/hour=10/"
    assert (
        pair.error_prefix(AT, PROCESSING_FAILED)
        == "myErrorPrefix/year=2018/month=08/day=27/hour=10/processing-failed"
    )


def test_a_literal_prefix_gets_the_default_time_prefix_appended():
    pair = PrefixPair.from_config("myFirehosePrefix/", None)
    assert pair.data_prefix(AT) == "myFirehosePrefix/2018/08/27/10/"
    assert (
        pair.error_prefix(AT, PROCESSING_FAILED)
        == "myFirehosePrefix/processing-failed/2018/08/27/10/"
    )


def test_a_prefix_with_only_a_random_string_still_gets_the_time_appended():
    pair = PrefixPair.from_config(
        "r=!{firehose:random-string}/", "e/!{firehose:error-output-type}/"
    )
    assert re.fullmatch(r"r=.{11}/2018/08/27/10/", pair.data_prefix(AT))


def test_the_pipeline_raw_layout():
    """The raw/ and errors/ prefixes of CONTRACTS.md."""
    pair = PrefixPair.from_config(
        "raw/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
        "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/",
    )
    assert pair.data_prefix(AT) == "raw/dt=2018-08-27/hour=10/"
    expected = "errors/processing-failed/dt=2018-08-27/hour=10/"
    assert pair.error_prefix(AT, PROCESSING_FAILED) == expected


def test_opensearch_failed_documents_prefix_without_error_prefix():
    pair = PrefixPair.from_config("errors/search/", None)
    assert (
        pair.error_prefix(AT, OPENSEARCH_FAILED)
        == "errors/search/AmazonOpenSearchService-failed/2018/08/27/10/"
    )


def test_every_random_string_is_new_and_eleven_characters():
    evaluated = evaluate_prefix("!{firehose:random-string}/!{firehose:random-string}/", AT)
    first, second, _ = evaluated.split("/")
    assert len(first) == len(second) == 11
    assert first != second


@pytest.mark.parametrize(
    ("prefix", "error_prefix", "message"),
    [
        ("a/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/", "must not"),
        ("a/!{timestamp:yyyy}/", "e/!{timestamp:yyyy}/", "must contain"),
        ("a/!{timestamp:yyyy/", "e/", "'!\\{' may only start"),
        ("a/!{partitionKeyFromQuery:id}/", "e/!{firehose:error-output-type}/", "dynamic"),
        ("a/!{firehose:uuid}/", "e/!{firehose:error-output-type}/", "not one of"),
        ("a/!{timestamp:}/", "e/!{firehose:error-output-type}/", "empty timestamp"),
    ],
)
def test_prefixes_firehose_would_reject(prefix, error_prefix, message):
    with pytest.raises(PrefixError, match=message):
        PrefixPair.from_config(prefix, error_prefix)


def test_an_evaluated_prefix_longer_than_512_characters_is_rejected():
    pair = PrefixPair.from_config("x" * 520 + "/", None)
    with pytest.raises(PrefixError, match="more than 512"):
        pair.data_prefix(AT)


def test_custom_time_zone_moves_the_date_and_hour():
    late = datetime(2018, 8, 27, 23, 30, tzinfo=UTC)
    pair = PrefixPair.from_config(None, None)
    assert pair.data_prefix(to_zone(late, ZoneInfo("Asia/Tokyo"))) == "2018/08/28/08/"


def test_naive_arrival_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        to_zone(datetime(2018, 8, 27), UTC)


def test_object_suffix_follows_the_documented_name_format():
    suffix = object_suffix("sensor-raw", 1, AT, ".gz")
    assert re.fullmatch(
        r"sensor-raw-1-2018-08-27-10-30-05-"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.gz",
        suffix,
    )
    assert object_suffix("s", 3, AT, "") != object_suffix("s", 3, AT, "")
    assert object_suffix("s", 3, AT, "", unique=lambda: "u") == "s-3-2018-08-27-10-30-05-u"


ROTATION_AT = datetime(2016, 2, 25, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        ("NoRotation", "myindex"),
        ("OneHour", "myindex-2016-02-25-13"),
        ("OneDay", "myindex-2016-02-25"),
        ("OneMonth", "myindex-2016-02"),
        # The guide's note (Sunday-start weeks, week 1 holds the year's first Saturday) gives w09;
        # its example table says w08. The note is implemented.
        ("OneWeek", "myindex-2016-w09"),
    ],
)
def test_index_rotation_names(rotation, expected):
    assert rotated_index_name("myindex", rotation, ROTATION_AT) == expected


def test_index_rotation_uses_utc_arrival_time():
    tokyo = datetime(2016, 2, 26, 0, 30, tzinfo=timezone(timedelta(hours=9)))
    assert rotated_index_name("sensor-log", "OneHour", tokyo) == "sensor-log-2016-02-25-15"


def test_unknown_rotation_is_rejected():
    with pytest.raises(ValueError, match="IndexRotationPeriod"):
        rotated_index_name("i", "OneYear", ROTATION_AT)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2016, 1, 1), (2016, 1)),  # Friday; its week ends on Saturday 2016-01-02
        (date(2015, 12, 27), (2016, 1)),  # Sunday starting that same week
        (date(2015, 12, 26), (2015, 52)),  # the Saturday before
        (date(2017, 12, 31), (2018, 1)),  # Sunday; the week's Saturday is in 2018
        (date(2020, 8, 10), (2020, 33)),  # the guide's `2020-w33` example week
    ],
)
def test_us_week_numbering(day, expected):
    assert us_week(day) == expected


def test_a_pattern_it_cannot_print_is_refused_when_the_stream_is_configured():
    with pytest.raises(PrefixError, match="pattern letter 'E' is not supported"):
        PrefixPair.from_config("raw/!{timestamp:EEE}/", "errors/!{firehose:error-output-type}/")
