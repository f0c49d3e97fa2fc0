"""Rows of a CSV sensor log as samples: the one parser `publish` and `check` share.

A log is described by a `CsvLayout`:

- `header`: whether the first line names the columns. Without a header every column setting is a
  1-based position (`time_column = "1"`, `humidity = "4"`).
- `separator`: what separates the fields: one character (`,`, `;`, a tab), read with Python's
  `csv` module (quoted fields allowed), or several characters such as `", "` or `" | "`, split
  literally (no quoting: a field cannot contain the separator).
- `time_format`: a `strftime` format, `iso` (ISO 8601), or Unix time: `unix` (seconds, may have
  a fraction), `unix_ms` (milliseconds), `unix_us` (microseconds). Unix times are read exactly
  (no float rounding); naive formatted times are in `zone`.
- `device_column`: a column naming each row's device (one file, many devices); empty: every
  row belongs to `device_name`.
- `columns`: reading field -> column (name, or position without a header).

`read_rows` yields, for every data line, either a `Sample` or a `Rejected` with the line number
and what is wrong. A rejected row is one whose time or device cannot be read, or that has fewer
fields than the layout needs: it is never published with a made-up time or device. An empty
measurement becomes a missing value; one that is not a number a missing value plus the flag
`<field>_unparseable` (the reading is still published, and the cloud's validator decides).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from device.contract import DEVICE_ID_PATTERN
from device.reading import Sample

UNIX_FORMATS: dict[str, int] = {"unix": 1, "unix_s": 1, "unix_ms": 1_000, "unix_us": 1_000_000}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_UNIX_DIGITS = 30  # far past year 9999 in microseconds; keeps Decimal from overflowing
_POSITION = re.compile(r"^[1-9][0-9]*$")


class LayoutError(ValueError):
    """The layout does not fit the file (a column that is not there); the message says which."""


@dataclass(frozen=True)
class CsvLayout:
    columns: Mapping[str, str]
    header: bool = True
    separator: str = ","
    time_column: str = "time_stamp"
    time_format: str = "%Y-%m-%d %H:%M:%S"
    zone: dt.tzinfo = dt.UTC
    device_column: str = ""
    device_name: str = ""

    def problems(self) -> list[str]:
        """What is wrong with the layout itself, before any file is read."""
        found = []
        if not self.separator or "\n" in self.separator or "\r" in self.separator:
            found.append(f"separator {self.separator!r} must be one or more characters, no newline")
        if len(self.separator) == 1 and self.separator == '"':
            found.append('separator may not be the quote character "')
        if not self.header:
            for where, column in self.named_columns().items():
                if not _POSITION.match(column):
                    found.append(
                        f"{where} {column!r} must be a column position (1, 2, ...) in a file "
                        "without a header"
                    )
        return found

    def named_columns(self) -> dict[str, str]:
        """setting -> column, for every column the layout reads."""
        named = {"time_column": self.time_column}
        if self.device_column:
            named["device_column"] = self.device_column
        named.update({f"columns.{name}": column for name, column in self.columns.items()})
        return named


@dataclass(frozen=True)
class Rejected:
    """A row that cannot become a reading: its line number (1 = the file's first line)."""

    line: int
    reason: str


def split_lines(lines: Iterable[str], separator: str) -> Iterator[tuple[int, list[str] | Rejected]]:
    """(line number, fields) for every non-blank line; a line the `csv` module cannot split (a
    stray carriage return or quote) comes as a `Rejected`."""
    if len(separator) == 1:
        reader = csv.reader(lines, delimiter=separator)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield reader.line_num, Rejected(reader.line_num, f"is not a CSV line: {err}")
                continue
            if any(cell.strip() for cell in fields):
                yield reader.line_num, fields
        return
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if text.strip():
            yield number, text.split(separator)


def parse_time(value: str, time_format: str, zone: dt.tzinfo) -> dt.datetime:
    """Parse one time cell; naive results are placed in `zone`. Raises ValueError."""
    text = value.strip()
    if time_format in UNIX_FORMATS:
        try:
            amount = Decimal(text)
        except InvalidOperation as err:
            raise ValueError(f"{text!r} is not a number") from err
        if not amount.is_finite() or amount.adjusted() > MAX_UNIX_DIGITS:
            raise ValueError(f"{text!r} is not a finite number of a plausible size")
        micros = int(amount * 1_000_000 / UNIX_FORMATS[time_format])
        return EPOCH + dt.timedelta(microseconds=micros)
    if time_format == "iso":
        parsed = dt.datetime.fromisoformat(text)
    else:
        parsed = dt.datetime.strptime(text, time_format)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def positions(layout: CsvLayout, header: list[str] | None) -> dict[str, int]:
    """setting -> 0-based field index. Raises LayoutError naming the missing columns."""
    named = layout.named_columns()
    if header is None:
        return {where: int(column) - 1 for where, column in named.items()}
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = sorted({column for column in named.values() if column not in index})
    if missing:
        raise LayoutError(
            f"has no column(s) {', '.join(missing)}; its columns are: {', '.join(header)}"
        )
    return {where: index[column] for where, column in named.items()}


def read_rows(lines: Iterable[str], layout: CsvLayout) -> Iterator[Sample | Rejected]:
    """A `Sample` or a `Rejected` for every data line of the log (see the module docstring)."""
    problems = layout.problems()
    if problems:
        raise LayoutError("; ".join(problems))
    where: dict[str, int] | None = None
    width = 0
    for number, fields in split_lines(lines, layout.separator):
        if isinstance(fields, Rejected):
            yield fields
            continue
        if where is None:
            if layout.header:
                where = positions(layout, [cell.strip() for cell in fields])
                width = max(where.values()) + 1
                continue
            where = positions(layout, None)
            width = max(where.values()) + 1
        if len(fields) < width:
            yield Rejected(
                number,
                f"has {len(fields)} fields, the layout reads field {width} "
                f"(separator {layout.separator!r})",
            )
            continue
        yield _row(number, fields, where, layout)


def _row(
    number: int, fields: list[str], where: dict[str, int], layout: CsvLayout
) -> Sample | Rejected:
    cell = fields[where["time_column"]]
    try:
        ts = parse_time(cell, layout.time_format, layout.zone)
    except (ValueError, OverflowError, OSError) as err:
        return Rejected(number, f"time {cell!r} does not match {layout.time_format!r}: {err}")
    device = layout.device_name
    if layout.device_column:
        device = fields[where["device_column"]].strip()
        if not DEVICE_ID_PATTERN.match(device):
            return Rejected(number, f"device {device!r} is not a valid thing name")
    flags: list[str] = []
    values: dict[str, float | None] = {}
    for name in layout.columns:
        text = fields[where[f"columns.{name}"]].strip()
        if not text:
            values[name] = None
            continue
        try:
            values[name] = float(text)
        except ValueError:
            values[name] = None
            flags.append(f"{name}_unparseable")
    return Sample(ts=ts, device_id=device, flags=tuple(flags), **values)
