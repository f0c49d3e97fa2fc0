-- Average temperature and humidity for each hour of the day (UTC), per device and over all devices
SELECT
    COALESCE(device_id, '(all devices)') AS device_id,
    hour(ts) AS hour_of_day,
    ROUND(AVG(temperature), 2) AS avg_temperature,
    ROUND(AVG(humidity), 2) AS avg_humidity,
    COUNT(*) AS readings
FROM readings
GROUP BY GROUPING SETS ((device_id, hour(ts)), (hour(ts)))
ORDER BY device_id, hour_of_day
