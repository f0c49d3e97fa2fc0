-- Temperature, humidity and pressure over time: average and maximum (pressure also minimum) for every hour, per device
SELECT
    device_id,
    date_trunc('hour', ts) AS hour_start,
    ROUND(AVG(temperature), 2) AS avg_temperature,
    ROUND(MAX(temperature), 2) AS max_temperature,
    ROUND(AVG(humidity), 2) AS avg_humidity,
    ROUND(MAX(humidity), 2) AS max_humidity,
    ROUND(AVG(pressure), 2) AS avg_pressure,
    ROUND(MIN(pressure), 2) AS min_pressure,
    ROUND(MAX(pressure), 2) AS max_pressure,
    COUNT(*) AS readings
FROM readings
GROUP BY device_id, date_trunc('hour', ts)
ORDER BY device_id, hour_start
