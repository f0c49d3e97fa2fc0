"""Java DateTimeFormatter patterns (`yyyy-MM-dd'T'HH`), read and printed once for every service.

Firehose prefixes (`!{timestamp:...}`), the IoT rule function `parse_time`, OpenSearch custom date
formats and Athena's `format_datetime` / partition projection formats all use these patterns.
`tokenize` splits a pattern into literal text and `Field`s (a run of one letter); `printer`
compiles one field into a function of a datetime; `format_pattern` prints a whole pattern. Athena
turns the same tokens into strftime codes, OpenSearch into a parsing regex (in their modules).

Letters, as java.time prints them: `y` `u` (year; `yy` two digits), `M` `L` (month: 1-2 digits,
3 short name, 4 full name, 5 first letter), `d`, `D` (day of year), `H` `k` `K` `h` (hour 0-23,
1-24, 0-11, 1-12), `m`, `s`, `S` (fraction, up to 9 digits), `a` (AM/PM), `E` (weekday: 1-3
short, 4 full, 5 first letter), `X` `x` `Z` (offsets: `X` prints `Z` for zero). Text in single
quotes is literal (`''` is a quote); other characters are copied. Any other letter, or more
letters than Java allows, raises `PatternError` naming it.

Differences from Java: English names only (no locale); `ZZZZ` prints `+HHMM`, not `GMT+HH:MM`.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

Printer = Callable[[datetime], str]
MONTHS, MONTH_ABBREVIATIONS = tuple(calendar.month_name)[1:], tuple(calendar.month_abbr)[1:]
WEEKDAYS = tuple(calendar.day_name)  # Monday first, as datetime.weekday() counts


class PatternError(ValueError):
    """A pattern letter that is not supported, too many of one letter, or an open quote."""


@dataclass(frozen=True)
class Field:
    """A run of one pattern letter: `yyyy` is Field("y", 4)."""

    letter: str
    count: int

    @property
    def text(self) -> str:
        return self.letter * self.count


Token = str | Field


def quoted_literal(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the quote that opens at `pattern[start]` (a `'`), and the index after
    it. Inside a quote `''` is one quote; `''` on its own is one quote too. ValueError if the quote
    is not closed."""
    end = start + 1
    literal: list[str] = []
    while True:
        if end >= len(pattern):
            raise PatternError(f"unterminated quote in pattern {pattern!r}")
        if pattern[end] == "'":
            if end + 1 < len(pattern) and pattern[end + 1] == "'":
                literal.append("'")
                end += 2
                continue
            break
        literal.append(pattern[end])
        end += 1
    return ("".join(literal) if end > start + 1 else "'"), end + 1


def tokenize(pattern: str) -> list[Token]:
    """Literal text (quoted or not) and fields, in order."""
    tokens: list[Token] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            text, index = quoted_literal(pattern, index)
            tokens.append(text)
        elif char.isascii() and char.isalpha():
            count = 1
            while index + count < len(pattern) and pattern[index + count] == char:
                count += 1
            tokens.append(Field(char, count))
            index += count
        else:
            tokens.append(char)
            index += 1
    return tokens


def _too_many(field: Field) -> PatternError:
    return PatternError(f"too many pattern letters '{field.text}'")


def _number(value: Callable[[datetime], int], max_count: int) -> Callable[[Field], Printer]:
    def compile_field(field: Field) -> Printer:
        if field.count > max_count:
            raise _too_many(field)
        return lambda moment: str(value(moment)).zfill(field.count)

    return compile_field


def _year(field: Field) -> Printer:
    if field.count == 2:
        return lambda moment: f"{moment.year % 100:02d}"
    return lambda moment: str(moment.year).zfill(field.count)


def _text(
    value: Callable[[datetime], int], names: tuple[str, ...], short: tuple[str, ...], numeric: bool
) -> Callable[[Field], Printer]:
    """Month (numeric at 1-2 letters) or weekday (short name at 1-3 letters)."""

    def compile_field(field: Field) -> Printer:
        count = field.count
        if numeric and count <= 2:
            return lambda moment: str(value(moment) + 1).zfill(count)
        if count <= 3:
            return lambda moment: short[value(moment)]
        if count == 4:
            return lambda moment: names[value(moment)]
        if count == 5:
            return lambda moment: names[value(moment)][0]
        raise _too_many(field)

    return compile_field


def _fraction(field: Field) -> Printer:
    if field.count > 9:
        raise _too_many(field)
    return lambda moment: f"{moment.microsecond:06d}000"[: field.count]


def _am_pm(field: Field) -> Printer:
    if field.count > 1:
        raise _too_many(field)
    return lambda moment: "AM" if moment.hour < 12 else "PM"


def _offset(field: Field) -> Printer:
    if field.count > 5:
        raise _too_many(field)
    return lambda moment: format_offset(moment, field.text)


def format_offset(moment: datetime, style: str) -> str:
    """The UTC offset of `moment` as `style` prints it: `X`/`x` `+HH[mm]`, `XX`/`xx`/`Z`..`ZZZZ`
    `+HHMM`, `XXX`/`xxx`/`ZZZZZ`/`iso` `+HH:MM`; the `X` styles, `ZZZZZ` and `iso` print `Z` for
    UTC."""
    offset = moment.utcoffset() or timedelta(0)
    total = int(offset.total_seconds())
    if total == 0 and style in {"iso", "X", "XX", "XXX", "ZZZZZ"}:
        return "Z"
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total) // 60, 60)
    if style in {"iso", "XXX", "xxx", "ZZZZZ"}:
        return f"{sign}{hours:02d}:{minutes:02d}"
    if style in {"X", "x"}:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    return f"{sign}{hours:02d}{minutes:02d}"


_FIELDS: dict[str, Callable[[Field], Printer]] = {
    "y": _year,
    "u": _year,
    "M": _text(lambda m: m.month - 1, MONTHS, MONTH_ABBREVIATIONS, numeric=True),
    "L": _text(lambda m: m.month - 1, MONTHS, MONTH_ABBREVIATIONS, numeric=True),
    "d": _number(lambda m: m.day, 2),
    "D": _number(lambda m: m.timetuple().tm_yday, 3),
    "H": _number(lambda m: m.hour, 2),
    "k": _number(lambda m: m.hour or 24, 2),
    "K": _number(lambda m: m.hour % 12, 2),
    "h": _number(lambda m: m.hour % 12 or 12, 2),
    "m": _number(lambda m: m.minute, 2),
    "s": _number(lambda m: m.second, 2),
    "S": _fraction,
    "a": _am_pm,
    "E": _text(lambda m: m.weekday(), WEEKDAYS, tuple(d[:3] for d in WEEKDAYS), numeric=False),
    "X": _offset,
    "x": _offset,
    "Z": _offset,
}


def printer(field: Field) -> Printer:
    """Compile one field; PatternError for a letter not listed above or too many letters."""
    compile_field = _FIELDS.get(field.letter)
    if compile_field is None:
        raise PatternError(f"pattern letter '{field.letter}' is not supported")
    return compile_field(field)


def compile_pattern(pattern: str) -> list[Printer]:
    printers: list[Printer] = []
    for token in tokenize(pattern):
        if isinstance(token, Field):
            printers.append(printer(token))
        else:
            printers.append(lambda _moment, text=token: text)
    return printers


def format_pattern(pattern: str, moment: datetime) -> str:
    """`moment` printed with a Java pattern."""
    return "".join(print_field(moment) for print_field in compile_pattern(pattern))
