-- Temperature, humidity and apparent temperature (NWS heat index) by place for every hour: minimum, average and maximum per room, floor, building and site of the device registry (table devices)
-- Apparent temperature: the NWS heat index (https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml)
-- in degC. The simple formula 0.5 * (T + 61 + (T - 68) * 1.2 + RH * 0.094), averaged with T
-- (degF), decides: below 80 degF the Rothfusz regression does not apply and the apparent
-- temperature is the air temperature; from 80 degF it is the regression with its two
-- adjustments (RH < 13 % at 80-112 degF, RH > 85 % at 80-87 degF). NULL without humidity.
-- place_level says which level a row is: room rows name the whole path, site rows only the site.
WITH placed AS (
    SELECT
        d.site, d.building, d.floor, d.room, r.device_id, r.ts, r.temperature, r.humidity,
        r.temperature * 1.8 + 32 AS tf,
        r.humidity AS rh
    FROM readings r
    JOIN devices d ON d.device_id = r.device_id
    WHERE d.site IS NOT NULL
),
apparent AS (
    SELECT
        *,
        CASE
            WHEN tf IS NULL OR rh IS NULL THEN NULL
            WHEN (0.5 * (tf + 61.0 + (tf - 68.0) * 1.2 + rh * 0.094) + tf) / 2 < 80 THEN temperature
            ELSE (
                -42.379 + 2.04901523 * tf + 10.14333127 * rh - 0.22475541 * tf * rh
                - 0.00683783 * tf * tf - 0.05481717 * rh * rh + 0.00122874 * tf * tf * rh
                + 0.00085282 * tf * rh * rh - 0.00000199 * tf * tf * rh * rh
                - CASE WHEN rh < 13 AND tf BETWEEN 80 AND 112
                    THEN (13 - rh) / 4 * sqrt((17 - abs(tf - 95)) / 17) ELSE 0 END
                + CASE WHEN rh > 85 AND tf BETWEEN 80 AND 87
                    THEN (rh - 85) / 10 * ((87 - tf) / 5) ELSE 0 END
                - 32
            ) / 1.8
        END AS apparent_temperature
    FROM placed
)
SELECT
    CASE
        WHEN grouping(room) = 0 THEN 'room'
        WHEN grouping(floor) = 0 THEN 'floor'
        WHEN grouping(building) = 0 THEN 'building'
        ELSE 'site'
    END AS place_level,
    site, building, floor, room,
    date_trunc('hour', ts) AS period_start,
    COUNT(DISTINCT device_id) AS devices,
    COUNT(*) AS readings,
    ROUND(MIN(temperature), 2) AS min_temperature,
    ROUND(AVG(temperature), 2) AS avg_temperature,
    ROUND(MAX(temperature), 2) AS max_temperature,
    ROUND(MIN(humidity), 2) AS min_humidity,
    ROUND(AVG(humidity), 2) AS avg_humidity,
    ROUND(MAX(humidity), 2) AS max_humidity,
    ROUND(MIN(apparent_temperature), 2) AS min_apparent_temperature,
    ROUND(AVG(apparent_temperature), 2) AS avg_apparent_temperature,
    ROUND(MAX(apparent_temperature), 2) AS max_apparent_temperature
FROM apparent
GROUP BY GROUPING SETS (
    (site, building, floor, room, date_trunc('hour', ts)),
    (site, building, floor, date_trunc('hour', ts)),
    (site, building, date_trunc('hour', ts)),
    (site, date_trunc('hour', ts))
)
HAVING CASE
    WHEN grouping(room) = 0 THEN room
    WHEN grouping(floor) = 0 THEN floor
    WHEN grouping(building) = 0 THEN building
    ELSE site
END IS NOT NULL
ORDER BY site, building, floor, room, period_start
