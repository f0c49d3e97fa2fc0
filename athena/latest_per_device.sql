-- The latest reading of every device
SELECT device_id, seq, ts, temperature, humidity, pressure
FROM (
    SELECT *, row_number() OVER (PARTITION BY device_id ORDER BY ts DESC, seq DESC) AS rank_in_device
    FROM readings
)
WHERE rank_in_device = 1
ORDER BY device_id
