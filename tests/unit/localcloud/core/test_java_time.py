from datetime import UTC, datetime, timedelta, timezone

import pytest

from localcloud.athena.dates import convert
from localcloud.core.java_time import Field, PatternError, format_pattern, quoted_literal, tokenize
from localcloud.firehose.naming import PrefixError, format_java_datetime


@pytest.mark.parametrize(
    ("pattern", "start", "expected"),
    [
        ("'T'HH", 0, ("T", 3)),
        ("yyyy'-at-'HH", 4, ("-at-", 10)),
        ("''", 0, ("'", 2)),
        ("'it''s'", 0, ("it's", 7)),
    ],
)
def test_quoted_literals(pattern, start, expected):
    assert quoted_literal(pattern, start) == expected


def test_an_open_quote_is_an_error_in_both_users():
    with pytest.raises(ValueError, match="unterminated quote"):
        quoted_literal("'open", 0)
    with pytest.raises(ValueError, match="unterminated quote"):
        convert("yyyy'open")
    with pytest.raises(PrefixError, match="unterminated quote"):
        format_java_datetime("yyyy'open", datetime(2026, 1, 1, tzinfo=UTC))


def test_one_engine_prints_every_services_letters():
    moment = datetime(2018, 8, 27, 0, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert tokenize("yyyy'T'HH") == [Field("y", 4), "T", Field("H", 2)]
    assert format_pattern("yy/M/d H:m:s", moment) == "18/8/27 0:30:5"
    assert format_pattern("yyyy-MM-dd'T'HH:mm:ss.SSS", moment) == "2018-08-27T00:30:05.123"
    assert format_pattern("SSSSSSSSS", moment) == "123456000"
    with pytest.raises(PatternError, match="too many pattern letters 'ddd'"):
        format_pattern("ddd", moment)
    for letter in ("Q", "E", "a", "h", "X", "Z"):
        with pytest.raises(PatternError, match=f"pattern letter '{letter}' is not supported"):
            format_pattern(letter, moment)
    with pytest.raises(PatternError, match=r"month names \('MMM'\) are not supported"):
        format_pattern("MMM", moment)
