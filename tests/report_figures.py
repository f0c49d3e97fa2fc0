"""The charts every demo report draws, in page order (demo/report.py); a report whose registry
gives devices a place adds the apparent temperature by room after them."""

REPORT_CHARTS = (
    "hourly-temperature",
    "hourly-humidity",
    "temperature-over-time",
    "humidity-over-time",
    "pressure-over-time",
    "readings-per-hour",
    "alert-timeline",
)
