"""Dates for the emulated OpenSearch: formats, date math, time zones and calendar rounding.

Every date is held as epoch milliseconds (an `int`), as OpenSearch does for `date` fields.

Formats: the ones the pipeline's index template, the dashboards and the demo use:
`strict_date_optional_time` (also `date_optional_time` and `..._nanos`, which behave the same
here; offsets `Z`, `+HH`, `+HHMM` and `+HH:MM`), `epoch_millis` and `epoch_second`; several
joined by `||` are tried in order. Any other built-in name or custom pattern is refused with a
400 naming it, in a mapping, a query or an aggregation.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
MS_PER_UNIT = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "H": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
CALENDAR_UNITS = {
    "minute": "m",
    "1m": "m",
    "hour": "h",
    "1h": "h",
    "day": "d",
    "1d": "d",
    "week": "w",
    "1w": "w",
    "month": "M",
    "1M": "M",
    "quarter": "q",
    "1q": "q",
    "year": "y",
    "1y": "y",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MONDAY_MS = 4 * 86_400_000  # 1970-01-05


class DateError(ValueError):
    """A value that cannot be parsed as a date, or an unknown format, unit or time zone."""


class DateFormatError(DateError):
    """A format pattern the emulation cannot read."""


# ---------------------------------------------------------------- time zones and conversions


def parse_time_zone(name: str | None) -> tzinfo:
    """`UTC`, `Z`, `+01:00`, `-0500`, `+02` or an IANA name such as `Europe/Berlin`."""
    if name is None or name in {"UTC", "Z", "utc", "Etc/UTC", "GMT"}:
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
        return timezone(sign * timedelta(minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise DateError(f"unknown time zone [{name}]") from err


def to_datetime(ms: int, tz: tzinfo = UTC) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz)


def to_millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def now_millis() -> int:
    return to_millis(datetime.now(UTC))


# ---------------------------------------------------------------- formats


@dataclass(frozen=True)
class _Parsed:
    """The components a format found in a string; None where the string had none."""

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None
    nanos: int | None = None
    offset_seconds: int | None = None


def _offset_seconds(text: str) -> int:
    if text in {"Z", "z"}:
        return 0
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", text)
    if not match:
        raise DateError(f"bad offset [{text}]")
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3) or 0) * 60)


_ISO = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


def _nanos(frac: str | None) -> int | None:
    return None if frac is None else int(frac.ljust(9, "0"))


def _parse_iso(text: str) -> _Parsed:
    match = _ISO.fullmatch(text)
    if not match:
        raise DateError(text)
    groups = match.groupdict()
    return _Parsed(
        year=int(groups["year"]),
        month=_int_or_none(groups["month"]),
        day=_int_or_none(groups["day"]),
        hour=_int_or_none(groups["hour"]),
        minute=_int_or_none(groups["minute"]),
        second=_int_or_none(groups["second"]),
        nanos=_nanos(groups["frac"]),
        offset_seconds=None if groups["offset"] is None else _offset_seconds(groups["offset"]),
    )


# The formats the pipeline's mappings, the dashboards and the demo use; OpenSearch has about
# fifty more built-in names and custom java.time patterns, which are refused here.
ISO_FORMATS = frozenset(
    {"strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos"}
)
FORMATS = ISO_FORMATS | {"epoch_millis", "epoch_second"}


def check_format(formats: str) -> None:
    """Raise DateFormatError unless every `||`-separated format is one the emulation knows."""
    for name in formats.split("||"):
        if name not in FORMATS:
            raise DateFormatError(
                f"the date format [{name}] is not supported by the emulated OpenSearch "
                f"(supported: {', '.join(sorted(FORMATS))})"
            )


def _resolve(parsed: _Parsed, tz: tzinfo, round_up: bool) -> int:
    """Epoch millis of parsed components; missing time fields are 23:59:59.999 if round_up."""
    fill_hour, fill_minute, fill_second, fill_nanos = (
        (23, 59, 59, 999_999_999) if round_up else (0, 0, 0, 0)
    )
    nanos = fill_nanos if parsed.nanos is None else parsed.nanos
    try:
        local = datetime(
            parsed.year,
            parsed.month or 1,
            parsed.day or 1,
            fill_hour if parsed.hour is None else parsed.hour,
            fill_minute if parsed.minute is None else parsed.minute,
            fill_second if parsed.second is None else parsed.second,
            nanos // 1000,
        )
    except ValueError as err:
        raise DateError(str(err)) from err
    zone = (
        tz if parsed.offset_seconds is None else timezone(timedelta(seconds=parsed.offset_seconds))
    )
    return to_millis(local.replace(tzinfo=zone))


def _parse_epoch(value: str | float, scale: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise DateError(str(value)) from err
    if math.isnan(number) or math.isinf(number):
        raise DateError(str(value))
    return int(number * scale)


def parse_date(
    value: str | float,
    formats: str = DEFAULT_DATE_FORMAT,
    tz: tzinfo = UTC,
    round_up: bool = False,
) -> int:
    """Epoch millis of a date given as a string or number, trying each `||` format in order."""
    check_format(formats)
    for name in formats.split("||"):
        try:
            if name == "epoch_millis":
                return _parse_epoch(value, 1)
            if name == "epoch_second":
                return _parse_epoch(value, 1000)
            if isinstance(value, bool) or not isinstance(value, str):
                continue
            return _resolve(_parse_iso(value), tz, round_up)
        except DateError:
            continue
    raise DateError(f"failed to parse date field [{value}] with format [{formats}]")


def format_date(ms: int, formats: str = DEFAULT_DATE_FORMAT, tz: tzinfo = UTC) -> str:
    """The date printed with the first of the `||`-separated formats."""
    check_format(formats)
    name = formats.split("||", maxsplit=1)[0]
    if name == "epoch_millis":
        return str(ms)
    if name == "epoch_second":
        return str(ms // 1000)
    text = to_datetime(ms, tz).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


# ---------------------------------------------------------------- calendar arithmetic


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """Wall-clock time in tz as a naive datetime (calendar arithmetic happens on the wall clock)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _from_local(naive: datetime, tz: tzinfo) -> int:
    return to_millis(naive.replace(tzinfo=tz))


def add_unit(ms: int, amount: int, unit: str, tz: tzinfo = UTC) -> int:
    """ms plus amount units (y, M, w, d, h/H, m, s) on tz's calendar."""
    if unit in {"h", "H", "m", "s"}:
        return ms + amount * MS_PER_UNIT[unit]
    naive = _local(to_datetime(ms), tz)
    if unit == "y":
        naive = _add_months(naive, 12 * amount)
    elif unit == "M":
        naive = _add_months(naive, amount)
    elif unit == "q":
        naive = _add_months(naive, 3 * amount)
    elif unit in {"w", "d"}:
        naive = naive + timedelta(days=amount * (7 if unit == "w" else 1))
    else:
        raise DateError(f"unknown date unit [{unit}]")
    return _from_local(naive, tz)


def round_down(ms: int, unit: str, tz: tzinfo = UTC) -> int:
    """The first millisecond of the calendar unit (y, q, M, w, d, h/H, m, s) holding ms in tz."""
    if isinstance(tz, timezone) and unit in MS_PER_UNIT:  # fixed offset: plain arithmetic
        offset = int(tz.utcoffset(None).total_seconds() * 1000)
        size = MS_PER_UNIT[unit]
        monday = _FIRST_MONDAY_MS if unit == "w" else 0  # weeks start on Mondays
        return (ms + offset - monday) // size * size + monday - offset
    naive = _local(to_datetime(ms), tz)
    if unit == "s":
        naive = naive.replace(microsecond=0)
    elif unit == "m":
        naive = naive.replace(second=0, microsecond=0)
    elif unit in {"h", "H"}:
        naive = naive.replace(minute=0, second=0, microsecond=0)
    elif unit in {"d", "w", "M", "q", "y"}:
        naive = naive.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "w":
            naive -= timedelta(days=naive.weekday())
        elif unit == "M":
            naive = naive.replace(day=1)
        elif unit == "q":
            naive = naive.replace(month=(naive.month - 1) // 3 * 3 + 1, day=1)
        elif unit == "y":
            naive = naive.replace(month=1, day=1)
    else:
        raise DateError(f"unknown date unit [{unit}]")
    return _from_local(naive, tz)


_MATH_STEP = re.compile(r"([+-])(\d+)?([yMwdhHms])|/([yMwdhHms])")


def parse_date_math(
    expression: str | float,
    formats: str = DEFAULT_DATE_FORMAT,
    tz: tzinfo = UTC,
    round_up: bool = False,
    now_ms: int | None = None,
) -> int:
    """A date or date-math expression (`now-1h`, `now/d`, `2026-11-22||+1d/d`) as epoch millis.

    Rounding with `/unit` goes to the first millisecond of the unit, or to its last millisecond
    when round_up (used for `gt` and `lte`, as OpenSearch does).
    """
    if not isinstance(expression, str):
        return parse_date(expression, formats, tz, round_up)
    if expression.startswith("now"):
        base = now_millis() if now_ms is None else now_ms
        steps = expression[3:]
    elif "||" in expression:
        anchor, _, steps = expression.partition("||")
        base = parse_date(anchor, formats, tz, round_up)
    else:
        return parse_date(expression, formats, tz, round_up)
    position = 0
    while position < len(steps):
        step = _MATH_STEP.match(steps, position)
        if step is None:
            raise DateError(
                f"failed to parse date math [{expression}]: bad operation at [{steps[position:]}]"
            )
        position = step.end()
        if step.group(4):
            unit = step.group(4)
            start = round_down(base, unit, tz)
            base = add_unit(start, 1, unit, tz) - 1 if round_up else start
        else:
            amount = int(step.group(2) or 1) * (-1 if step.group(1) == "-" else 1)
            base = add_unit(base, amount, step.group(3), tz)
    return base
