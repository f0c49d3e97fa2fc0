"""The NWS heat index, written from the NWS page alone, to check the SQL's apparent temperature.

https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml: the simple formula first, averaged
with the temperature; from 80 degF on, the Rothfusz regression with its low- and high-humidity
adjustments. Below 80 degF the pipeline reports the air temperature (the regression's validity
range starts there). Tests only: the product computes it in SQL (athena/places_*.sql).
"""

from __future__ import annotations

import math


def fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


def celsius(fahrenheit_value: float) -> float:
    return (fahrenheit_value - 32) * 5 / 9


def rothfusz(t: float, rh: float) -> float:
    """HI in degF from T in degF and RH in percent, with the NWS adjustments."""
    hi = (
        -42.379
        + 2.04901523 * t
        + 10.14333127 * rh
        - 0.22475541 * t * rh
        - 0.00683783 * t**2
        - 0.05481717 * rh**2
        + 0.00122874 * t**2 * rh
        + 0.00085282 * t * rh**2
        - 0.00000199 * t**2 * rh**2
    )
    if rh < 13 and 80 <= t <= 112:
        hi -= (13 - rh) / 4 * math.sqrt((17 - abs(t - 95)) / 17)
    elif rh > 85 and 80 <= t <= 87:
        hi += (rh - 85) / 10 * (87 - t) / 5
    return hi


def apparent_temperature(temperature_c: float | None, humidity: float | None) -> float | None:
    """The apparent temperature in degC, or None without both inputs."""
    if temperature_c is None or humidity is None:
        return None
    t = fahrenheit(temperature_c)
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + humidity * 0.094)
    if (simple + t) / 2 < 80:
        return temperature_c
    return celsius(rothfusz(t, humidity))
