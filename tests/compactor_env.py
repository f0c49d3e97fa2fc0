"""The compactor's environment as the stack sets it (cdk_app/compaction.py), for its unit and
integration tests."""

COMPACTOR_ENV = {
    "STATE_TABLE": "compactor-state",
    "COMPACTION_THRESHOLD": "20",
    "COMPACTION_MAX_AGE_MINUTES": "60",
    "GLUE_DATABASE": "sensor_pipeline",
    "RAW_TABLE": "raw_readings",
    "COMPACTED_TABLE": "compacted_readings",
    "ATHENA_WORKGROUP": "sensor-pipeline",
    "DATA_BUCKET": "sensor-data",
    "RAW_PREFIX": "raw/",
    "COMPACTED_PREFIX": "compacted/",
}
