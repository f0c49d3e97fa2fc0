-- Data quality: values outside the reading contract's ranges, device flags and outliers, per device and field
-- below_range/above_range use the valid ranges of CONTRACTS.md; the validator sends readings outside
-- them to errors/invalid/, so anything counted here got past it. flagged counts readings whose
-- device set `<field>_out_of_range`, `_not_finite`, `_missing` or `_unparseable`. outliers are
-- values more than four standard deviations from the device's mean for that field. Fields a
-- device never sent (and never flagged) are left out.
-- Add `WHERE dt BETWEEN '2026-11-01' AND '2026-11-22'` to the first SELECT to scan less.
WITH limits (field, field_order, valid_min, valid_max) AS (
    VALUES
        ('temperature', 1, -40.0, 120.0),
        ('humidity', 2, 0.0, 100.0),
        ('pressure', 3, 260.0, 1260.0),
        ('cpu_temp', 4, -40.0, 150.0),
        ('temperature_raw', 5, -40.0, 120.0),
        ('pitch', 6, 0.0, 360.0),
        ('roll', 7, 0.0, 360.0),
        ('yaw', 8, 0.0, 360.0)
),
measured AS (
    SELECT
        r.device_id,
        l.field,
        l.field_order,
        l.valid_min,
        l.valid_max,
        CASE l.field
            WHEN 'temperature' THEN r.temperature
            WHEN 'humidity' THEN r.humidity
            WHEN 'pressure' THEN r.pressure
            WHEN 'cpu_temp' THEN r.cpu_temp
            WHEN 'temperature_raw' THEN r.temperature_raw
            WHEN 'pitch' THEN r.pitch
            WHEN 'roll' THEN r.roll
            WHEN 'yaw' THEN r.yaw
        END AS value,
        COALESCE(
            contains(r.flags, l.field || '_out_of_range')
            OR contains(r.flags, l.field || '_not_finite')
            OR contains(r.flags, l.field || '_missing')
            OR contains(r.flags, l.field || '_unparseable'),
            false
        ) AS flagged
    FROM readings r CROSS JOIN limits l
),
stats AS (
    SELECT device_id, field, AVG(value) AS mean, STDDEV_POP(value) AS sd
    FROM measured
    GROUP BY device_id, field
)
SELECT
    m.device_id,
    m.field,
    COUNT(m.value) AS readings,
    COUNT_IF(m.value < m.valid_min) AS below_range,
    COUNT_IF(m.value > m.valid_max) AS above_range,
    COUNT_IF(m.flagged) AS flagged,
    COUNT_IF(s.sd > 0 AND ABS(m.value - s.mean) > 4 * s.sd) AS outliers,
    ROUND(MIN(m.value), 2) AS min_value,
    ROUND(MAX(m.value), 2) AS max_value,
    MIN(m.valid_min) AS valid_min,
    MIN(m.valid_max) AS valid_max
FROM measured m JOIN stats s ON m.device_id = s.device_id AND m.field = s.field
GROUP BY m.device_id, m.field, m.field_order
HAVING COUNT(m.value) > 0 OR COUNT_IF(m.flagged) > 0
ORDER BY m.device_id, m.field_order
