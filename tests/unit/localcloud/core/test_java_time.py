from datetime import UTC, datetime

import pytest

from localcloud.athena.dates import convert
from localcloud.core.java_time import quoted_literal
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
