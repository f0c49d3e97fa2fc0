-- Data quality: readings delivered more than once to raw/ by (device_id, seq), per device
-- At-least-once delivery (device retries, Firehose retries) may land a reading in raw/ twice; the
-- compacted table keeps one row per (device_id, seq). conflicting counts duplicated readings whose
-- copies differ in ts or a measurement, which a retry never causes.
-- Add `WHERE dt BETWEEN '2026-11-01' AND '2026-11-22'` (arrival date) to scan less.
WITH copies AS (
    SELECT
        device_id,
        seq,
        COUNT(*) AS copies,
        GREATEST(
            COUNT(DISTINCT ts),
            COUNT(DISTINCT temperature),
            COUNT(DISTINCT humidity),
            COUNT(DISTINCT pressure)
        ) AS versions
    FROM raw_readings
    GROUP BY device_id, seq
)
SELECT
    device_id,
    SUM(copies) AS raw_rows,
    COUNT(*) AS readings,
    COUNT_IF(copies > 1) AS duplicated_readings,
    SUM(copies) - COUNT(*) AS extra_copies,
    MAX(copies) AS max_copies,
    COUNT_IF(versions > 1) AS conflicting
FROM copies
GROUP BY device_id
ORDER BY device_id
