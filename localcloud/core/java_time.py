"""Java DateTimeFormatter patterns (`yyyy-MM-dd'T'HH`), read and printed once for every service.

Firehose prefixes (`!{timestamp:...}`) and Athena's `format_datetime` / partition projection
formats use these patterns. `tokenize` splits a pattern into literal text and `Field`s (a run of
one letter); `printer` compiles one field into a function of a datetime; `format_pattern` prints
a whole pattern (Firehose). Athena turns the same tokens into strftime codes (athena/dates.py).

Letters printed, as java.time prints them: `y` (year; `yy` two digits), `M` (month, 1-2 digits),
`d`, `H` (hour 0-23), `m`, `s`, `S` (fraction, up to 9 digits): what the stack's Firehose
prefixes use (`yyyy-MM-dd`, `HH`) and more. Text in single quotes is literal (`''` is a quote);
other characters are copied. Any other letter (names of months and weekdays, 12-hour clocks,
AM/PM, offsets: nothing here prints them), or more letters than Java allows, raises
`PatternError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

Printer = Callable[[datetime], str]


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


def _fraction(field: Field) -> Printer:
    if field.count > 9:
        raise _too_many(field)
    return lambda moment: f"{moment.microsecond:06d}000"[: field.count]


_FIELDS: dict[str, Callable[[Field], Printer]] = {
    "y": _year,
    "M": _number(lambda m: m.month, 2),
    "d": _number(lambda m: m.day, 2),
    "H": _number(lambda m: m.hour, 2),
    "m": _number(lambda m: m.minute, 2),
    "s": _number(lambda m: m.second, 2),
    "S": _fraction,
}


def printer(field: Field) -> Printer:
    """Compile one field; PatternError for a letter not listed above or too many letters."""
    compile_field = _FIELDS.get(field.letter)
    if compile_field is None:
        raise PatternError(f"pattern letter '{field.letter}' is not supported")
    if field.letter == "M" and field.count > 2:
        raise PatternError(f"month names ('{field.text}') are not supported")
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
