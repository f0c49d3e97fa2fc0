"""Java date-time patterns (`yyyy-MM-dd HH`) as strftime formats and regular expressions.

The pattern is read by `localcloud.core.java_time`; this module maps its fields to DuckDB's and
Python's strftime codes and to a regular expression.

Athena uses Java patterns in `format_datetime` / `parse_datetime` and in the `format` of a
partition projection of type date; DuckDB and Python use strftime codes. Only the pattern letters
listed below are supported; any other letter is rejected with a message naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from localcloud.core import java_time

# letter -> {count: (duckdb strftime, python strftime, regex)}; the largest count <= n wins.
_LETTERS: dict[str, dict[int, tuple[str, str, str]]] = {
    "y": {2: ("%y", "%y", r"\d{2}"), 3: ("%Y", "%Y", r"\d{4}")},
    "Y": {2: ("%y", "%y", r"\d{2}"), 3: ("%Y", "%Y", r"\d{4}")},
    "M": {
        1: ("%-m", "%m", r"\d{1,2}"),
        2: ("%m", "%m", r"\d{2}"),
        3: ("%b", "%b", r"[A-Za-z]{3}"),
        4: ("%B", "%B", r"[A-Za-z]+"),
    },
    "d": {1: ("%-d", "%d", r"\d{1,2}"), 2: ("%d", "%d", r"\d{2}")},
    "H": {1: ("%-H", "%H", r"\d{1,2}"), 2: ("%H", "%H", r"\d{2}")},
    "h": {1: ("%-I", "%I", r"\d{1,2}"), 2: ("%I", "%I", r"\d{2}")},
    "m": {1: ("%-M", "%M", r"\d{1,2}"), 2: ("%M", "%M", r"\d{2}")},
    "s": {1: ("%-S", "%S", r"\d{1,2}"), 2: ("%S", "%S", r"\d{2}")},
    "S": {3: ("%g", "", r"\d{3}"), 6: ("%f", "%f", r"\d{6}")},
    "a": {1: ("%p", "%p", r"[AaPp][Mm]")},
    "E": {1: ("%a", "%a", r"[A-Za-z]{3}"), 4: ("%A", "%A", r"[A-Za-z]+")},
    "D": {1: ("%-j", "%j", r"\d{1,3}"), 3: ("%j", "%j", r"\d{3}")},
    "Z": {1: ("%z", "%z", r"[+-]\d{4}")},
    "z": {1: ("%Z", "%Z", r"[A-Za-z]+")},
}

# Units a pattern resolves to, finest first (for a date projection's default interval unit).
_UNIT_OF_LETTER = (
    ("s", "SECONDS"),
    ("m", "MINUTES"),
    ("H", "HOURS"),
    ("h", "HOURS"),
    ("d", "DAYS"),
    ("D", "DAYS"),
    ("M", "MONTHS"),
    ("y", "YEARS"),
    ("Y", "YEARS"),
)


@dataclass(frozen=True)
class ConvertedPattern:
    """One Java pattern in the three forms the local Athena needs."""

    duckdb: str
    python: str
    regex: str
    letters: frozenset[str]

    @property
    def finest_unit(self) -> str:
        for letter, unit in _UNIT_OF_LETTER:
            if letter in self.letters:
                return unit
        return "DAYS"


def convert(pattern: str) -> ConvertedPattern:
    """Convert a Java DateTimeFormatter pattern; raise ValueError naming what is unsupported."""
    duck: list[str] = []
    python: list[str] = []
    regex: list[str] = []
    letters: set[str] = set()
    for token in java_time.tokenize(pattern):
        if isinstance(token, str):
            _append_literal(token, duck, python, regex)
            continue
        char, count = token.letter, token.count
        if char not in _LETTERS:
            raise ValueError(f"date pattern letter {char!r} in {pattern!r} is not supported")
        widths = [width for width in _LETTERS[char] if width <= count]
        if not widths:
            raise ValueError(f"date pattern {token.text!r} in {pattern!r} is not supported")
        duck_code, python_code, regex_code = _LETTERS[char][max(widths)]
        duck.append(duck_code)
        python.append(python_code)
        regex.append(regex_code)
        letters.add(char)
    return ConvertedPattern("".join(duck), "".join(python), "".join(regex), frozenset(letters))


def _append_literal(text: str, duck: list[str], python: list[str], regex: list[str]) -> None:
    escaped = text.replace("%", "%%")
    duck.append(escaped)
    python.append(escaped)
    regex.append(re.escape(text))
