"""Index names and the wildcard patterns of index expressions and templates."""

from __future__ import annotations

import re
from functools import lru_cache

from localcloud.opensearch.errors import OpenSearchError

_FORBIDDEN = set('\\/*?"<>| ,#:')
MAX_NAME_BYTES = 255


def _invalid(name: str, why: str) -> OpenSearchError:
    return OpenSearchError(
        400, "invalid_index_name_exception", f"Invalid index name [{name}], {why}", index=name
    )


def check_index_name(name: str) -> None:
    """Raise invalid_index_name_exception unless name is a valid OpenSearch index name."""
    if name != name.lower():
        raise _invalid(name, "must be lowercase")
    if name in {".", ".."}:
        raise _invalid(name, "must not be '.' or '..'")
    if name[:1] in {"_", "-", "+"}:
        raise _invalid(name, "must not start with '_', '-', or '+'")
    bad = sorted(_FORBIDDEN & set(name))
    if bad:
        raise _invalid(name, f"must not contain the following characters {bad}")
    size = len(name.encode("utf-8"))
    if size == 0 or size > MAX_NAME_BYTES:
        raise _invalid(name, f"index name is too long, ({size} > {MAX_NAME_BYTES})")


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def wildcard_match(pattern: str, name: str) -> bool:
    """OpenSearch's simple wildcard match: `*` matches any run of characters, nothing else is
    special."""
    return _regex(pattern).fullmatch(name) is not None


def patterns_overlap(first: str, second: str) -> bool:
    """Whether two wildcard patterns can match a common name (decided on their literal heads and
    tails, which is exact for patterns with at most one `*` each)."""
    if "*" not in first:
        return wildcard_match(second, first)
    if "*" not in second:
        return wildcard_match(first, second)
    head1, _, tail1 = first.partition("*")
    head2, _, tail2 = second.partition("*")
    tail1, tail2 = tail1.rpartition("*")[2], tail2.rpartition("*")[2]
    heads = head1.startswith(head2) or head2.startswith(head1)
    tails = tail1.endswith(tail2) or tail2.endswith(tail1)
    return heads and tails
