"""`replay`: publish a CSV sensor log, at a speed factor or as fast as possible.

Column mapping (`[replay]` in the config file):

- `time_column` (default `time_stamp`) and `time_format`: a `strftime` format (default
  `%Y-%m-%d %H:%M:%S`), or `iso` (ISO 8601), or `unix` (seconds since the epoch). Times without
  an offset are in `timezone` (default `UTC`).
- `device_column`: a column naming the device of each row; or leave it empty and every row belongs
  to `device_name` (default: the configured thing name).
- `[replay.columns]`: reading field = CSV column, for `temperature_raw`, `cpu_temp`, `humidity`,
  `pressure`, `pitch`, `roll`, `yaw`, and `temperature` (a column that is already compensated;
  without it the compensated temperature is computed from `temperature_raw` and `cpu_temp`).

The default mapping is for the Astro Pi Sense HAT logs shipped in `data/astropi/`:
`temperature_raw = temp_h` (the HTS221's temperature), `cpu_temp = temp_cpu`, `humidity`,
`pressure`, `pitch`, `roll`, `yaw`; `time_stamp` is read as UTC.

`speed` 0 replays as fast as possible; 1 keeps the log's own spacing; 60 plays a minute per
second. A row whose time (or device) cannot be read is rejected: logged with its line number and
counted, never published with a made-up time. An empty value becomes a missing field, a value
that is not a number a missing field plus the flag `<field>_unparseable`; the reading is still
published, so the cloud's validator records it.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from device.config import ConfigError, Settings
from device.contract import DEVICE_ID_PATTERN
from device.reading import Sample
from device.sources.base import LedMatrix, Pause

log = logging.getLogger(__name__)


def parse_time(value: str, time_format: str, zone: dt.tzinfo) -> dt.datetime:
    """Parse one time cell; naive results are placed in `zone`. Raises ValueError."""
    text = value.strip()
    if time_format == "unix":
        parsed = dt.datetime.fromtimestamp(float(text), dt.UTC)
    elif time_format == "iso":
        parsed = dt.datetime.fromisoformat(text)
    else:
        parsed = dt.datetime.strptime(text, time_format)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


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
    ) -> None:
        self.path = Path(path)
        self.columns = dict(columns)
        self.device_name = device_name
        self.time_column = time_column
        self.time_format = time_format
        self.zone = zoneinfo.ZoneInfo(timezone)
        self.device_column = device_column
        self.speed = speed
        self._clock = clock
        self.rows_read = 0
        self.rejected = 0
        self._check_header()

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
        )

    def _check_header(self) -> None:
        try:
            with self.path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
        except OSError as err:
            raise ConfigError(f"[replay] path: cannot read {self.path}: {err}") from err
        wanted = {self.time_column, *self.columns.values()}
        if self.device_column:
            wanted.add(self.device_column)
        missing = sorted(wanted - set(header))
        if missing:
            raise ConfigError(
                f"[replay] {self.path} has no column(s) {', '.join(missing)}; "
                f"its columns are: {', '.join(header)}"
            )

    def _reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        log.error("replay %s line %d rejected: %s", self.path, line, reason)

    def items(self) -> Iterator[Sample | Pause]:
        first: tuple[float, dt.datetime] | None = None
        with self.path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                self.rows_read += 1
                line = self.rows_read + 1  # the header is line 1
                try:
                    ts = parse_time(row[self.time_column] or "", self.time_format, self.zone)
                except (ValueError, OverflowError, OSError) as err:
                    value = row[self.time_column]
                    self._reject(line, f"time {value!r} does not match {self.time_format!r}: {err}")
                    continue
                device = self.device_name
                if self.device_column:
                    device = (row[self.device_column] or "").strip()
                    if not DEVICE_ID_PATTERN.match(device):
                        self._reject(line, f"device {device!r} is not a valid thing name")
                        continue
                if self.speed > 0:
                    if first is None:
                        first = (self._clock(), ts)
                    else:
                        offset = (ts - first[1]).total_seconds() / self.speed
                        yield Pause(first[0] + offset)
                yield self._sample(row, ts, device)
        log.info("replay of %s read %d rows, rejected %d", self.path, self.rows_read, self.rejected)

    def _sample(self, row: Mapping[str, str | None], ts: dt.datetime, device: str) -> Sample:
        flags: list[str] = []
        values: dict[str, float | None] = {}
        for field_name, column in self.columns.items():
            text = (row.get(column) or "").strip()
            if not text:
                values[field_name] = None
                continue
            try:
                values[field_name] = float(text)
            except ValueError:
                values[field_name] = None
                flags.append(f"{field_name}_unparseable")
        return Sample(ts=ts, device_id=device, flags=tuple(flags), **values)

    def device_ids(self) -> list[str]:
        return [] if self.device_column else [self.device_name]

    def led_matrix(self) -> LedMatrix | None:
        return None

    def close(self) -> None:
        return None
