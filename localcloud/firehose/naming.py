"""How Firehose names what it writes: S3 prefixes, object keys and rotated OpenSearch index names.

Follows the Amazon Data Firehose developer guide, "Custom prefixes for Amazon S3 objects",
"Amazon S3 object name format" and "Index rotation for the OpenSearch Service destination":

- A prefix may contain `!{timestamp:<Java DateTimeFormatter pattern>}`,
  `!{firehose:random-string}` (11 random characters, new for every use) and, in the error output
  prefix only, `!{firehose:error-output-type}`. Every timestamp in one prefix evaluates to the same
  instant: the approximate arrival time of the oldest record in the object, in UTC unless the
  stream sets `CustomTimeZone`.
- A prefix without a timestamp expression gets `!{timestamp:yyyy/MM/dd/HH/}` appended; no prefix
  at all is therefore `yyyy/MM/dd/HH/`.
- `ErrorOutputPrefix` may be absent only if `Prefix` has no expressions; errors then go to
  `<Prefix><error-output-type>/yyyy/MM/dd/HH/`. An error prefix with expressions must use
  `!{firehose:error-output-type}`; `Prefix` must not.
- The sequence `!{` appears only in expressions; an evaluated prefix is at most 512 characters.
- Object key: `<evaluated prefix><stream name>-<stream version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-
  <uuid><file extension>`; the extension is `.gz` for GZIP unless `FileExtension` overrides it.
- Index rotation appends the arrival time: `-yyyy-MM-dd-HH` (OneHour), `-yyyy-MM-dd` (OneDay),
  `-yyyy-wWW` (OneWeek), `-yyyy-MM` (OneMonth).

Differences from AWS:
- The `partitionKeyFromQuery` / `partitionKeyFromLambda` namespaces (dynamic partitioning) are
  not emulated; a prefix that uses them is rejected when the stream is configured.
- The DateTimeFormatter subset is `localcloud.core.java_time`'s (`y`, `M`, `d`, `H`, `m`, `s`,
  `S`: no names, 12-hour clocks or offsets); any other pattern letter is rejected, when the stream
  is configured, with a message naming it.
- A literal `ErrorOutputPrefix` (one without expressions) is used like a literal `Prefix` is for
  errors: `<ErrorOutputPrefix><error-output-type>/yyyy/MM/dd/HH/`. The guide does not spell
  this case out.
- The guide's OneWeek note (weeks start on Sunday; week 1 is the first week that contains a
  Saturday of the year) is followed. Its own example table (2016-02-25 -> `w08`) contradicts that
  note (which gives `w09`); the note is the rule implemented here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

from localcloud.core import java_time

MAX_PREFIX_LENGTH: Final = 512
DEFAULT_TIME_PATTERN: Final = "yyyy/MM/dd/HH/"
RANDOM_STRING_LENGTH: Final = 11
INDEX_ROTATIONS: Final = ("NoRotation", "OneHour", "OneDay", "OneWeek", "OneMonth")

# error-output-type values used by the local delivery workers.
PROCESSING_FAILED: Final = "processing-failed"
OPENSEARCH_FAILED: Final = "AmazonOpenSearchService-failed"

_DEFAULT_ERROR_TAIL: Final = (
    f"!{{firehose:error-output-type}}/!{{timestamp:{DEFAULT_TIME_PATTERN}}}"
)
_EXPRESSION = re.compile(r"!\{([^{}:]*):([^{}]*)\}")
_SUPPORTED_NAMESPACES = ("timestamp", "firehose")
_FIREHOSE_VALUES = ("random-string", "error-output-type")


class PrefixError(ValueError):
    """A Prefix or ErrorOutputPrefix that Firehose would reject."""


def format_java_datetime(pattern: str, moment: datetime) -> str:
    """Format `moment` with a Java DateTimeFormatter pattern (`localcloud.core.java_time`)."""
    try:
        return java_time.format_pattern(pattern, moment)
    except java_time.PatternError as err:
        raise PrefixError(f"timestamp pattern {pattern!r}: {err}") from err


# --- prefix expressions ---


@dataclass(frozen=True)
class _Expression:
    namespace: str
    value: str


def _parse(prefix: str, field: str) -> list[str | _Expression]:
    """Split a prefix into literal text and expressions, enforcing the syntax rules."""
    parts: list[str | _Expression] = []
    position = 0
    for match in _EXPRESSION.finditer(prefix):
        literal = prefix[position : match.start()]
        if "!{" in literal:
            raise PrefixError(f"{field} {prefix!r}: '!{{' may only start a !{{namespace:value}}")
        parts.append(literal)
        namespace, value = match.group(1), match.group(2)
        if namespace not in _SUPPORTED_NAMESPACES:
            raise PrefixError(
                f"{field} {prefix!r}: namespace '{namespace}' is not supported locally "
                f"(supported: {', '.join(_SUPPORTED_NAMESPACES)}; dynamic partitioning is not "
                "emulated)"
            )
        if namespace == "firehose" and value not in _FIREHOSE_VALUES:
            raise PrefixError(
                f"{field} {prefix!r}: '!{{firehose:{value}}}' is not one of "
                f"{', '.join(_FIREHOSE_VALUES)}"
            )
        if namespace == "timestamp" and not value:
            raise PrefixError(f"{field} {prefix!r}: empty timestamp pattern")
        if namespace == "timestamp":  # a pattern it cannot print fails here, not at delivery
            format_java_datetime(value, datetime(2000, 1, 1))
        parts.append(_Expression(namespace, value))
        position = match.end()
    tail = prefix[position:]
    if "!{" in tail:
        raise PrefixError(f"{field} {prefix!r}: '!{{' may only start a !{{namespace:value}}")
    parts.append(tail)
    return parts


def _has_expressions(parts: list[str | _Expression]) -> bool:
    return any(isinstance(part, _Expression) for part in parts)


@dataclass(frozen=True)
class PrefixPair:
    """A validated (Prefix, ErrorOutputPrefix) pair, ready to evaluate."""

    prefix: str
    error_output_prefix: str

    @classmethod
    def from_config(cls, prefix: str | None, error_output_prefix: str | None) -> PrefixPair:
        """Apply Firehose's semantic rules; raise PrefixError for a pair Firehose would reject."""
        data = prefix or ""
        data_parts = _parse(data, "Prefix")
        if any(isinstance(p, _Expression) and p.value == "error-output-type" for p in data_parts):
            raise PrefixError(f"Prefix {data!r} must not contain !{{firehose:error-output-type}}")
        if not any(isinstance(p, _Expression) and p.namespace == "timestamp" for p in data_parts):
            data = f"{data}!{{timestamp:{DEFAULT_TIME_PATTERN}}}"

        if error_output_prefix:
            error_parts = _parse(error_output_prefix, "ErrorOutputPrefix")
            if _has_expressions(error_parts):
                if not any(
                    isinstance(p, _Expression) and p.value == "error-output-type"
                    for p in error_parts
                ):
                    raise PrefixError(
                        f"ErrorOutputPrefix {error_output_prefix!r} uses expressions, so it must "
                        "contain !{firehose:error-output-type}"
                    )
                error = error_output_prefix
            else:
                error = f"{error_output_prefix}{_DEFAULT_ERROR_TAIL}"
        else:
            if _has_expressions(data_parts):
                raise PrefixError(
                    f"ErrorOutputPrefix is required because Prefix {prefix!r} contains expressions"
                )
            error = f"{prefix or ''}{_DEFAULT_ERROR_TAIL}"
        return cls(prefix=data, error_output_prefix=error)

    def data_prefix(self, arrival: datetime) -> str:
        return evaluate_prefix(self.prefix, arrival)

    def error_prefix(self, arrival: datetime, error_output_type: str) -> str:
        return evaluate_prefix(self.error_output_prefix, arrival, error_output_type)


def random_string() -> str:
    """The 11 characters `!{firehose:random-string}` evaluates to (e.g. `046b6c7f-0b`)."""
    return str(uuid.uuid4())[:RANDOM_STRING_LENGTH]


def evaluate_prefix(
    prefix: str,
    arrival: datetime,
    error_output_type: str | None = None,
    make_random: Callable[[], str] = random_string,
) -> str:
    """Evaluate every expression of `prefix` at `arrival` (an aware datetime, already in the
    stream's time zone)."""
    out: list[str] = []
    for part in _parse(prefix, "prefix"):
        if isinstance(part, str):
            out.append(part)
        elif part.namespace == "timestamp":
            out.append(format_java_datetime(part.value, arrival))
        elif part.value == "random-string":
            out.append(make_random())
        else:
            if error_output_type is None:
                raise PrefixError(f"{prefix!r}: error-output-type is only valid for error output")
            out.append(error_output_type)
    evaluated = "".join(out)
    if len(evaluated) > MAX_PREFIX_LENGTH:
        raise PrefixError(
            f"evaluated prefix is {len(evaluated)} characters, more than {MAX_PREFIX_LENGTH}"
        )
    return evaluated


# --- object keys and index names ---


def object_suffix(
    stream_name: str,
    version: int,
    moment: datetime,
    extension: str,
    unique: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> str:
    """`<stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><extension>`."""
    stamp = moment.strftime("%Y-%m-%d-%H-%M-%S")
    return f"{stream_name}-{version}-{stamp}-{unique()}{extension}"


def to_zone(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` (aware) seen in the stream's time zone."""
    if moment.tzinfo is None:
        raise ValueError("arrival timestamps must be timezone-aware")
    return moment.astimezone(zone)


def us_week(day: date) -> tuple[int, int]:
    """(year, week) with weeks starting on Sunday and week 1 the first week holding a Saturday
    of the year: the numbering Firehose documents for OneWeek index rotation."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    saturday = sunday + timedelta(days=6)
    january_first = date(saturday.year, 1, 1)
    first_saturday = january_first + timedelta(days=(5 - january_first.weekday()) % 7)
    return saturday.year, (saturday - first_saturday).days // 7 + 1


def rotated_index_name(index_name: str, rotation: str, arrival: datetime) -> str:
    """The index a document goes to, for `IndexRotationPeriod` and the UTC arrival time."""
    if rotation not in INDEX_ROTATIONS:
        raise ValueError(f"IndexRotationPeriod {rotation!r} is not one of {INDEX_ROTATIONS}")
    if arrival.tzinfo is None:
        raise ValueError("arrival timestamps must be timezone-aware")
    utc = arrival.astimezone(UTC)
    if rotation == "NoRotation":
        return index_name
    if rotation == "OneHour":
        return f"{index_name}-{utc:%Y-%m-%d-%H}"
    if rotation == "OneDay":
        return f"{index_name}-{utc:%Y-%m-%d}"
    if rotation == "OneMonth":
        return f"{index_name}-{utc:%Y-%m}"
    year, week = us_week(utc.date())
    return f"{index_name}-{year}-w{week:02d}"
