"""The one piece of Java DateTimeFormatter syntax both Firehose prefixes and Athena patterns use."""

from __future__ import annotations


def quoted_literal(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the quote that opens at `pattern[start]` (a `'`), and the index after
    it. Inside a quote `''` is one quote; `''` on its own is one quote too. ValueError if the quote
    is not closed."""
    end = start + 1
    literal: list[str] = []
    while True:
        if end >= len(pattern):
            raise ValueError(f"unterminated quote in pattern {pattern!r}")
        if pattern[end] == "'":
            if end + 1 < len(pattern) and pattern[end + 1] == "'":
                literal.append("'")
                end += 2
                continue
            break
        literal.append(pattern[end])
        end += 1
    return ("".join(literal) if end > start + 1 else "'"), end + 1
