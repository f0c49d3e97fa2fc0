-- Data quality per device and hour: expected and received readings, duplicates, out of range, timestamps going backwards, and a quality score
-- Hours are UTC hours of the reading's ts. Per device and hour (formula in athena/README.md):
--   interval_s      the device's interval: the median step between its consecutive distinct
--                   ts in that hour (its median over all hours when the hour has one reading),
--                   or the one set in `settings` below (e.g. 1.0 for a Sense HAT at 1 Hz)
--   expected        intervals that fit in the part of the hour the device was publishing:
--                   from the later of the hour's start and the device's first reading to the
--                   earlier of the hour's end and its last reading plus one interval
--   received        readings in the compacted table (valid: the validator passed them)
--   duplicate_seq   extra copies in raw/ of the same (device_id, seq) (at-least-once delivery)
--   duplicate_ts    readings repeating a ts the device already sent under a lower seq
--   out_of_range    readings the device flagged `<field>_out_of_range` or `_not_finite`
--   backwards       readings whose ts is earlier than that of the device's previous seq
--   good            readings that arrived valid, once (one copy, first with its ts), in order
--                   (not backwards) and not flagged out of range
--   quality_score   good / expected, at most 1 (3 decimals)
-- Readings the validator refused (errors/invalid/) are not received: they lower the score.
-- duplicate_seq needs the raw objects, which are deleted rawRetentionDays after compaction.
-- Add `WHERE dt BETWEEN '2026-11-01' AND '2026-11-22'` to both SELECTs from tables to scan less.
WITH settings AS (
    SELECT CAST(NULL AS double) AS expected_interval_s
),
copies AS (
    SELECT device_id, CAST(seq AS bigint) AS seq, COUNT(*) AS copies
    FROM raw_readings
    GROUP BY device_id, CAST(seq AS bigint)
),
ordered AS (
    SELECT
        r.device_id,
        r.seq,
        r.ts,
        date_trunc('hour', r.ts) AS hour_start,
        COALESCE(c.copies, 1) AS copies,
        row_number() OVER (PARTITION BY r.device_id, r.ts ORDER BY r.seq) AS ts_copy,
        lag(r.ts) OVER (PARTITION BY r.device_id ORDER BY r.seq) AS previous_ts,
        MIN(r.ts) OVER (PARTITION BY r.device_id) AS device_first_ts,
        MAX(r.ts) OVER (PARTITION BY r.device_id) AS device_last_ts,
        COALESCE(
            regexp_like(array_join(r.flags, ' '), '[a-z_]+_(out_of_range|not_finite)( |$)'),
            false
        ) AS out_of_range
    FROM readings r
    LEFT JOIN copies c ON c.device_id = r.device_id AND c.seq = r.seq
),
steps AS (
    SELECT
        device_id,
        hour_start,
        CAST(date_diff('millisecond', lag(ts) OVER (PARTITION BY device_id, hour_start ORDER BY ts), ts)
            AS double) / 1000 AS step_s
    FROM (SELECT DISTINCT device_id, hour_start, ts FROM ordered) AS distinct_ts
),
device_intervals AS (
    SELECT device_id, approx_percentile(step_s, 0.5) AS interval_s
    FROM (
        SELECT
            device_id,
            CAST(date_diff('millisecond', lag(ts) OVER (PARTITION BY device_id ORDER BY ts), ts)
                AS double) / 1000 AS step_s
        FROM (SELECT DISTINCT device_id, ts FROM ordered) AS distinct_device_ts
    ) AS device_steps
    WHERE step_s > 0
    GROUP BY device_id
),
intervals AS (
    SELECT
        s.device_id,
        s.hour_start,
        ROUND(COALESCE(
            MAX(settings.expected_interval_s),
            approx_percentile(s.step_s, 0.5),
            MAX(d.interval_s)
        ), 3) AS interval_s
    FROM steps s
    CROSS JOIN settings
    LEFT JOIN device_intervals d ON d.device_id = s.device_id
    GROUP BY s.device_id, s.hour_start
),
hours AS (
    SELECT
        o.device_id,
        o.hour_start,
        MAX(i.interval_s) AS interval_s,
        CAST(date_diff(
            'millisecond',
            GREATEST(o.hour_start, MIN(o.device_first_ts)),
            LEAST(
                date_add('hour', 1, o.hour_start),
                date_add(
                    'millisecond',
                    CAST(COALESCE(MAX(i.interval_s), 0) * 1000 AS bigint),
                    MAX(o.device_last_ts)
                )
            )
        ) AS double) / 1000 AS publishing_s,
        COUNT(*) AS received,
        SUM(o.copies - 1) AS duplicate_seq,
        COUNT_IF(o.ts_copy > 1) AS duplicate_ts,
        COUNT_IF(o.out_of_range) AS out_of_range,
        COUNT_IF(o.ts < o.previous_ts) AS backwards,
        COUNT_IF(
            o.copies = 1 AND o.ts_copy = 1 AND NOT o.out_of_range
            AND (o.previous_ts IS NULL OR o.ts >= o.previous_ts)
        ) AS good
    FROM ordered o
    JOIN intervals i ON i.device_id = o.device_id AND i.hour_start = o.hour_start
    GROUP BY o.device_id, o.hour_start
)
SELECT
    device_id,
    hour_start,
    interval_s,
    CAST(GREATEST(COALESCE(ROUND(publishing_s / NULLIF(interval_s, 0)), 1), 1) AS bigint)
        AS expected,
    received,
    duplicate_seq,
    duplicate_ts,
    out_of_range,
    backwards,
    good,
    ROUND(LEAST(1.0, CAST(good AS double)
        / GREATEST(COALESCE(ROUND(publishing_s / NULLIF(interval_s, 0)), 1), 1)), 3)
        AS quality_score
FROM hours
ORDER BY device_id, hour_start
