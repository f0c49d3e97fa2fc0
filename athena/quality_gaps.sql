-- Data quality: gaps per device (missing readings against its expected interval, seq numbers never seen)
-- A step between two consecutive readings of a device is a gap when it spans two or more expected
-- intervals; round(step / interval) - 1 readings are missing in it. The expected interval is the
-- device's median step unless set below (e.g. 1.0 for a Sense HAT sampled every second).
-- missing_seq counts seq numbers never seen between a device's first and last reading; a device
-- that lost its spool file starts a new seq range, which shows as one large seq gap.
-- Add `WHERE dt BETWEEN '2026-11-01' AND '2026-11-22'` to the first SELECT to scan less.
WITH settings AS (
    SELECT CAST(NULL AS double) AS expected_interval_s
),
steps AS (
    SELECT
        device_id,
        seq,
        ts,
        CAST(date_diff('millisecond', lag(ts) OVER (PARTITION BY device_id ORDER BY ts, seq), ts)
            AS double) / 1000 AS step_s,
        seq - lag(seq) OVER (PARTITION BY device_id ORDER BY seq) AS seq_step
    FROM readings
),
intervals AS (
    SELECT
        steps.device_id,
        COALESCE(MAX(settings.expected_interval_s), ROUND(approx_percentile(steps.step_s, 0.5), 3))
            AS expected_interval_s
    FROM steps CROSS JOIN settings
    GROUP BY steps.device_id
),
classified AS (
    SELECT
        steps.*,
        intervals.expected_interval_s,
        ROUND(steps.step_s / NULLIF(intervals.expected_interval_s, 0)) AS intervals_spanned
    FROM steps JOIN intervals ON steps.device_id = intervals.device_id
)
SELECT
    device_id,
    COUNT(*) AS readings,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts,
    MAX(expected_interval_s) AS expected_interval_s,
    CAST(FLOOR(CAST(date_diff('millisecond', MIN(ts), MAX(ts)) AS double) / 1000
        / NULLIF(MAX(expected_interval_s), 0)) AS bigint) + 1 AS expected_readings,
    COUNT_IF(intervals_spanned >= 2) AS gaps,
    CAST(COALESCE(SUM(CASE WHEN intervals_spanned >= 2 THEN intervals_spanned - 1 END), 0)
        AS bigint) AS missing_readings,
    COALESCE(MAX(CASE WHEN intervals_spanned >= 2 THEN step_s END), 0) AS longest_gap_s,
    COUNT_IF(seq_step > 1) AS seq_gaps,
    COALESCE(SUM(CASE WHEN seq_step > 1 THEN seq_step - 1 END), 0) AS missing_seq
FROM classified
GROUP BY device_id
ORDER BY device_id
