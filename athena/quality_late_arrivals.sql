-- Data quality: late arrivals, the time from a reading (ts) to its arrival at IoT Core (arrival_ts), per device
-- Readings spooled on the device during an outage arrive late; a negative lateness means the
-- device clock is ahead of IoT Core's. The buckets split readings by lateness.
-- Add `WHERE dt BETWEEN '2026-11-01' AND '2026-11-22'` (reading date) to scan less.
WITH lateness AS (
    SELECT device_id, CAST(date_diff('millisecond', ts, arrival_ts) AS double) / 1000 AS late_s
    FROM readings
)
SELECT
    device_id,
    COUNT(*) AS readings,
    ROUND(approx_percentile(late_s, 0.5), 3) AS p50_s,
    ROUND(approx_percentile(late_s, 0.95), 3) AS p95_s,
    ROUND(MAX(late_s), 3) AS max_s,
    COUNT_IF(late_s < 0) AS clock_ahead,
    COUNT_IF(late_s >= 0 AND late_s < 10) AS under_10s,
    COUNT_IF(late_s >= 10 AND late_s < 60) AS under_1min,
    COUNT_IF(late_s >= 60 AND late_s < 3600) AS under_1h,
    COUNT_IF(late_s >= 3600 AND late_s < 86400) AS under_1d,
    COUNT_IF(late_s >= 86400) AS over_1d
FROM lateness
GROUP BY device_id
ORDER BY device_id
