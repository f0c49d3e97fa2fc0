"""`replay`: publish a CSV sensor log, at a speed factor or as fast as possible.

The rows are read by `device.csv_rows` (the parser `device check` runs too). Its layout
comes from `[replay]` in the config file:

- `header` (default true): whether the first line names the columns; without one, every column
  below is a 1-based position (`"1"`, `"2"`, ...).
- `separator` (default `,`): one character (read with quoting, as the `csv` module does) or
  several, such as `", "` (split literally).
- `time_column` (default `time_stamp`) and `time_format`: a `strftime` format (default
  `%Y-%m-%d %H:%M:%S`), `iso` (ISO 8601), or Unix time in `unix` seconds, `unix_ms`
  milliseconds or `unix_us` microseconds. Times without an offset are in `timezone` (default
  `UTC`).
- `device_column`: a column naming the device of each row (one file, many devices); or leave it
  empty and every row belongs to `device_name` (default: the configured thing name).
- `[replay.columns]`: reading field = CSV column, for `temperature_raw`, `cpu_temp`, `humidity`,
  `pressure`, `pitch`, `roll`, `yaw`, and `temperature` (a column that is already compensated;
  without it the compensated temperature is computed from `temperature_raw` and `cpu_temp`).
  Only a temperature and `humidity` are needed; a field without a column is not published (the
  cloud stores it as null).

The default mapping is for the Astro Pi Sense HAT logs shipped in `data/astropi/`:
`temperature_raw = temp_h` (the HTS221's temperature), `cpu_temp = temp_cpu`, `humidity`,
`pressure`, `pitch`, `roll`, `yaw`; `time_stamp` is read as UTC.

`speed` 0 replays as fast as possible; 1 keeps the log's own spacing; 60 plays a minute per
second. A row whose time or device cannot be read is rejected, never published with a made-up
time: the first `LOGGED_REJECTIONS` are logged with their line numbers (once a row was
accepted), and the end of the replay says how many there were. When every row was rejected,
one line says so and `publish` exits with 65 (EX_DATAERR).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from device.config import ConfigError, Settings
from device.csv_rows import CsvLayout, LayoutError, Rejected, parse_time, read_rows
from device.reading import Sample
from device.sources.base import LedMatrix, Pause

__all__ = ["EXIT_DATA", "LOGGED_REJECTIONS", "ReplaySource", "parse_time"]
EXIT_DATA = 65  # EX_DATAERR: not one row of the log could be read
LOGGED_REJECTIONS = 5  # rejected rows logged one by one; the rest are counted

log = logging.getLogger(__name__)


class ReplaySource:
    """A finite source over one CSV file."""

    name = "replay"
    finite = True
    uses_system_clock = False  # times come from the log

    def __init__(
        self,
        path: Path,
        columns: Mapping[str, str],
        device_name: str,
        time_column: str = "time_stamp",
        time_format: str = "%Y-%m-%d %H:%M:%S",
        timezone: str = "UTC",
        device_column: str = "",
        speed: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        header: bool = True,
        separator: str = ",",
    ) -> None:
        self.path = Path(path)
        self.layout = CsvLayout(
            columns=dict(columns),
            header=header,
            separator=separator,
            time_column=time_column,
            time_format=time_format,
            zone=zoneinfo.ZoneInfo(timezone),
            device_column=device_column,
            device_name=device_name,
        )
        self.device_name = device_name
        self.device_column = device_column
        self.speed = speed
        self._clock = clock
        self.rows_read = 0
        self.rejected = 0
        self.first_rejections: list[Rejected] = []
        self._accepted = False
        self._check_layout()

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplaySource:
        r = settings.replay
        return cls(
            path=Path(r.path),
            columns=r.columns,
            device_name=r.device_name or settings.device.thing_name,
            time_column=r.time_column,
            time_format=r.time_format,
            timezone=r.timezone,
            device_column=r.device_column,
            speed=r.speed,
            header=r.header,
            separator=r.separator,
        )

    def _check_layout(self) -> None:
        """The header (or, without one, the layout alone) fits: else ConfigError at once."""
        try:
            with self.path.open(newline="", encoding="utf-8") as handle:
                for _ in read_rows(itertools.islice(handle, 1), self.layout):
                    pass
        except OSError as err:
            raise ConfigError(f"[replay] path: cannot read {self.path}: {err}") from err
        except LayoutError as err:
            raise ConfigError(f"[replay] {self.path} {err}") from err

    def _reject(self, rejected: Rejected) -> None:
        self.rejected += 1
        if len(self.first_rejections) < LOGGED_REJECTIONS:
            self.first_rejections.append(rejected)
            if self._accepted:
                self._log(rejected)

    def _log(self, rejected: Rejected) -> None:
        log.error("replay %s line %d rejected: %s", self.path, rejected.line, rejected.reason)

    def rows(self, limit: int | None = None) -> Iterator[Sample | Rejected]:
        """The parsed rows (all, or the first `limit`), counted."""
        with self.path.open(newline="", encoding="utf-8") as handle:
            try:
                for row in itertools.islice(read_rows(handle, self.layout), limit):
                    self.rows_read += 1
                    if isinstance(row, Rejected):
                        self._reject(row)
                        continue
                    if not self._accepted:
                        self._accepted = True
                        for held in self.first_rejections:
                            self._log(held)
                    yield row
            except (UnicodeDecodeError, csv.Error) as err:
                raise ConfigError(f"[replay] {self.path} cannot be read as CSV: {err}") from err

    def all_rejected(self) -> bool:
        return self.rejected == self.rows_read  # also when there were no rows

    def summary(self) -> str:
        """One line: how many rows were read and rejected, and the first reasons."""
        first = "; ".join(f"line {r.line}: {r.reason}" for r in self.first_rejections[:2])
        if self.rows_read == 0:
            return f"replay {self.path}: no data rows"
        if self.rejected == self.rows_read:
            return (
                f"replay {self.path}: all {self.rows_read} rows rejected, nothing to publish "
                f"(first: {first})"
            )
        tail = f" (first: {first})" if self.rejected else ""
        return f"replay {self.path}: read {self.rows_read} rows, rejected {self.rejected}{tail}"

    def items(self) -> Iterator[Sample | Pause]:
        first: tuple[float, dt.datetime] | None = None
        for sample in self.rows():
            if self.speed > 0:
                if first is None:
                    first = (self._clock(), sample.ts)
                else:
                    offset = (sample.ts - first[1]).total_seconds() / self.speed
                    yield Pause(first[0] + offset)
            yield sample
        if self.all_rejected():
            log.error("%s", self.summary())
        else:
            log.info("%s", self.summary())

    def device_ids(self) -> list[str]:
        return [] if self.device_column else [self.device_name]

    def led_matrix(self) -> LedMatrix | None:
        return None

    def close(self) -> None:
        return None
