"""Partition projection: a table's `projection.*` parameters as partition values and S3 prefixes.

Follows the Athena documentation for projection types `date` (`range`, `format`, `interval`,
`interval.unit`, relative `NOW[+-]N<UNIT>` bounds) and `integer` (`range`, `interval`,
`digits`), the types the stack's tables use, and for `storage.location.template` (default:
`<location>/<col>=${<col>}/...`). The types `enum` and `injected` are refused
(INVALID_TABLE_PROPERTY).

Instead of listing every projected partition location one by one, the local Athena lists the
longest prefix the query pins down (see `Projection.prefixes`) and keeps the objects whose keys
match the template with values inside the projection; the set of objects read is the same.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from localcloud.athena.dates import ConvertedPattern, convert

MAX_ENUMERATION = 200_000  # projected values enumerated to find the ones a query allows
MAX_PREFIXES = 64  # S3 prefixes listed for one table reference before falling back to a shorter one

_UNIT_SECONDS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86400, "WEEKS": 604800}
_UNITS = {
    "YEAR": "YEARS",
    "MONTH": "MONTHS",
    "WEEK": "WEEKS",
    "DAY": "DAYS",
    "HOUR": "HOURS",
    "MINUTE": "MINUTES",
    "SECOND": "SECONDS",
}
_RELATIVE = re.compile(r"^\s*NOW\s*(?:([+-])\s*(\d+)\s*([A-Z]+?)S?)?\s*$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class ProjectionError(ValueError):
    """The table's projection configuration is invalid or the query violates it."""


def _add(moment: dt.datetime, amount: int, unit: str) -> dt.datetime:
    if unit in _UNIT_SECONDS:
        return moment + dt.timedelta(seconds=amount * _UNIT_SECONDS[unit])
    months = amount * (12 if unit == "YEARS" else 1)
    month_index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class ColumnProjection:
    """The projection of one partition column."""

    column: str
    kind: str
    low: str = ""
    high: str = ""
    pattern: ConvertedPattern | None = None
    interval: int = 1
    unit: str = "DAYS"
    digits: int | None = None

    def value_regex(self) -> str:
        if self.kind == "date" and self.pattern is not None:
            return self.pattern.regex
        return r"-?\d+"

    # --- date ---------------------------------------------------------------------------------
    def _parse_date(self, raw: str) -> dt.datetime | None:
        assert self.pattern is not None
        try:
            moment = dt.datetime.strptime(raw, self.pattern.python)
        except ValueError:
            return None
        if moment.strftime(self.pattern.python) != raw:
            return None
        return moment

    def _date_bound(self, text: str, now: dt.datetime) -> dt.datetime:
        relative = _RELATIVE.match(text)
        if relative:
            sign, amount, unit = relative.groups()
            if not sign:
                return self._truncate(now)
            unit_name = _UNITS.get(unit.upper().rstrip("S"), "")
            if not unit_name:
                raise ProjectionError(
                    f"INVALID_TABLE_PROPERTY: unknown unit {unit!r} in the range of "
                    f"projected column {self.column}"
                )
            moment = _add(now, int(amount) * (1 if sign == "+" else -1), unit_name)
            return self._truncate(moment)
        moment = self._parse_date(text.strip())
        if moment is None:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: range bound {text!r} of projected column "
                f"{self.column} does not match its format"
            )
        return moment

    def _truncate(self, moment: dt.datetime) -> dt.datetime:
        """A moment at the granularity of the format (NOW-relative bounds)."""
        assert self.pattern is not None
        parsed = self._parse_date(moment.strftime(self.pattern.python))
        return parsed if parsed is not None else moment

    def _date_range(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        return self._date_bound(self.low, now), self._date_bound(self.high, now)

    def _date_aligned(self, moment: dt.datetime, start: dt.datetime) -> bool:
        if self.interval == 1 and self.pattern and self.unit == self.pattern.finest_unit:
            return True
        if self.unit in _UNIT_SECONDS:
            step = self.interval * _UNIT_SECONDS[self.unit]
            return int((moment - start).total_seconds()) % step == 0
        months = (moment.year - start.year) * 12 + moment.month - start.month
        step = self.interval * (12 if self.unit == "YEARS" else 1)
        return months % step == 0

    # --- all kinds ----------------------------------------------------------------------------
    def valid(self, raw: str, now: dt.datetime) -> bool:
        """Whether a value read from an S3 key is one the projection produces."""
        if self.kind == "date":
            return self._valid_date(raw, now)
        return self._valid_integer(raw)

    def _valid_date(self, raw: str, now: dt.datetime) -> bool:
        moment = self._parse_date(raw)
        if moment is None:
            return False
        start, end = self._date_range(now)
        return start <= moment <= end and self._date_aligned(moment, start)

    def _valid_integer(self, raw: str) -> bool:
        try:
            number = int(raw)
        except ValueError:
            return False
        low, high = int(self.low), int(self.high)
        return (
            raw == self.format_integer(number)
            and low <= number <= high
            and (number - low) % self.interval == 0
        )

    def format_integer(self, number: int) -> str:
        if self.digits:
            return f"{number:0{self.digits}d}"
        return str(number)

    def candidates(
        self,
        keep: Callable[[str], bool],
        now: dt.datetime,
    ) -> list[str] | None:
        """The projected values a query allows, or None when there are too many to list."""
        if self.kind == "integer":
            low, high = int(self.low), int(self.high)
            if (high - low) // self.interval > MAX_ENUMERATION:
                return None
            return [
                self.format_integer(number)
                for number in range(low, high + 1, self.interval)
                if keep(self.format_integer(number))
            ]
        assert self.pattern is not None
        start, end = self._date_range(now)
        found: list[str] = []
        for step in range(MAX_ENUMERATION):
            moment = _add(start, step * self.interval, self.unit)
            if moment > end:
                return found
            raw = moment.strftime(self.pattern.python)
            if keep(raw):
                found.append(raw)
        return None


def _column_projection(column: str, parameters: Mapping[str, str]) -> ColumnProjection:
    prefix = f"projection.{column}."

    def get(name: str) -> str | None:
        for key, value in parameters.items():
            if key.lower() == prefix + name:
                return value
        return None

    kind = (get("type") or "").strip().lower()
    range_text = get("range")
    low, high = "", ""
    if range_text is not None:
        parts = range_text.split(",")
        if len(parts) != 2:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: projection.{column}.range must be two "
                f"comma-separated values, got {range_text!r}"
            )
        low, high = parts[0].strip(), parts[1].strip()
    interval = int(get("interval") or 1)
    if kind == "date":
        date_format = get("format")
        if not date_format or range_text is None:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: date projection of column {column} needs "
                f"projection.{column}.range and projection.{column}.format"
            )
        try:
            pattern = convert(date_format)
        except ValueError as err:
            raise ProjectionError(f"INVALID_TABLE_PROPERTY: {err}") from err
        unit_text = (get("interval.unit") or pattern.finest_unit).upper()
        unit = _UNITS.get(unit_text.rstrip("S"), "")
        if not unit:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: unknown projection.{column}.interval.unit {unit_text!r}"
            )
        return ColumnProjection(
            column, kind, low, high, pattern=pattern, interval=interval, unit=unit
        )
    if kind == "integer":
        if range_text is None:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: integer projection of column {column} needs "
                f"projection.{column}.range"
            )
        try:
            int(low), int(high)
        except ValueError as err:
            raise ProjectionError(
                f"INVALID_TABLE_PROPERTY: projection.{column}.range {range_text!r} is not "
                f"two integers"
            ) from err
        digits_text = get("digits")
        return ColumnProjection(
            column,
            kind,
            low,
            high,
            interval=interval,
            digits=int(digits_text) if digits_text else None,
        )
    raise ProjectionError(
        f"INVALID_TABLE_PROPERTY: unsupported projection.{column}.type {kind!r} "
        f"(the local Athena supports date and integer; nothing here uses enum or injected)"
    )


@dataclass(frozen=True)
class Projection:
    """A table's partition projection: per-column projections and the location template."""

    columns: Mapping[str, ColumnProjection]
    bucket: str
    parts: tuple[str, ...]  # literal, column, literal, column, ..., literal

    @property
    def template(self) -> str:
        text = "".join(
            part if index % 2 == 0 else "${" + part + "}" for index, part in enumerate(self.parts)
        )
        return f"s3://{self.bucket}/{text}"

    def regex(self) -> re.Pattern[str]:
        pieces: list[str] = []
        seen: set[str] = set()
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                pieces.append(re.escape(part))
            elif part in seen:
                pieces.append(f"(?P={self._group(part)})")
            else:
                seen.add(part)
                pieces.append(f"(?P<{self._group(part)}>{self.columns[part].value_regex()})")
        return re.compile("^" + "".join(pieces) + "(?P<_rest>.*)$", re.DOTALL)

    def _group(self, column: str) -> str:
        return f"c{list(self.columns).index(column)}"

    def match(self, key: str, now: dt.datetime) -> tuple[dict[str, str], str] | None:
        """The partition values and the rest of the key below the partition, if it matches."""
        found = self.regex().match(key)
        if found is None:
            return None
        values = {column: found.group(self._group(column)) for column in self.columns}
        if not all(self.columns[column].valid(raw, now) for column, raw in values.items()):
            return None
        return values, found.group("_rest")

    def prefixes(self, candidates: Mapping[str, Sequence[str] | None]) -> list[str]:
        """S3 key prefixes that hold every partition the candidates allow (deduplicated)."""
        partial: list[tuple[str, dict[str, str]]] = [("", {})]
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                partial = [(prefix + part, bound) for prefix, bound in partial]
                continue
            options = candidates.get(part)
            expanded: list[tuple[str, dict[str, str]]] = []
            for prefix, bound in partial:
                if part in bound:
                    expanded.append((prefix + bound[part], bound))
                elif options is not None:
                    expanded.extend(
                        (prefix + option, {**bound, part: option}) for option in options
                    )
                else:
                    return _unique(prefix for prefix, _ in partial)
            if len(expanded) > MAX_PREFIXES:
                return _unique(prefix for prefix, _ in partial)
            partial = expanded
        return _unique(prefix for prefix, _ in partial)


def _unique(prefixes: object) -> list[str]:
    return sorted(set(prefixes))  # type: ignore[call-overload]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix` as (bucket, key prefix)."""
    if not uri.startswith("s3://"):
        raise ProjectionError(f"not an s3:// location: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def projection_of(
    table_name: str,
    parameters: Mapping[str, str],
    partition_columns: Sequence[str],
    location: str,
) -> Projection | None:
    """The table's projection, or None when `projection.enabled` is not true."""
    enabled = next(
        (value for key, value in parameters.items() if key.lower() == "projection.enabled"), ""
    )
    if enabled.strip().lower() != "true":
        return None
    columns = [column.lower() for column in partition_columns]
    missing = [
        column
        for column in columns
        if not any(key.lower() == f"projection.{column}.type" for key in parameters)
    ]
    if missing:
        raise ProjectionError(
            f"INVALID_TABLE_PROPERTY: Table {table_name} is configured for partition "
            f"projection, but the following partition columns are missing projection "
            f"configuration: {missing}"
        )
    projections = {column: _column_projection(column, parameters) for column in columns}
    template = next(
        (value for key, value in parameters.items() if key.lower() == "storage.location.template"),
        None,
    )
    if template is None:
        base = location.rstrip("/")
        template = base + "/" + "".join(f"{column}=${{{column}}}/" for column in columns)
    if not template.endswith("/"):
        template += "/"
    bucket, key_template = split_s3_uri(template)
    if "${" in bucket:
        raise ProjectionError("INVALID_TABLE_PROPERTY: the bucket of a location template is fixed")
    parts = tuple(
        part.lower() if index % 2 else part
        for index, part in enumerate(_PLACEHOLDER.split(key_template))
    )
    used = set(parts[1::2])
    if not set(columns) <= used or not used <= set(columns):
        raise ProjectionError(
            "INVALID_TABLE_PROPERTY: The 'storage.location.template' table property must "
            "contain templates for all partition columns!"
        )
    return Projection(projections, bucket, parts)
