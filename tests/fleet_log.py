"""The layout of a headerless fleet log, as DEVICE_REPLAY_* variables: epoch milliseconds,
device, temperature and humidity, separated by ", " (one log, several devices)."""

HEADERLESS_LAYOUT = {
    "DEVICE_REPLAY_HEADER": "false",
    "DEVICE_REPLAY_SEPARATOR": ", ",
    "DEVICE_REPLAY_TIME_COLUMN": "1",
    "DEVICE_REPLAY_TIME_FORMAT": "unix_ms",
    "DEVICE_REPLAY_DEVICE_COLUMN": "2",
    "DEVICE_REPLAY_COLUMNS": "temperature=3,humidity=4",
}
