-- Threshold alerts per day, device, metric and level (raised or lowered into it), with the first and last time and the extreme values
SELECT
    dt AS day,
    device_id,
    metric,
    level,
    count(*) AS alerts,
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    min(value) AS min_value,
    max(value) AS max_value
FROM alerts
WHERE transition <> 'recovered'
GROUP BY dt, device_id, metric, level
ORDER BY day, device_id, metric, level
