"""The index template and writer role for the hourly `sensor-log-*` indices."""

from __future__ import annotations

from typing import Any

from search_setup.document_id import pipeline_id

WRITER_ROLE = "sensor_log_writer"


def index_pattern(index_name: str) -> str:
    """Firehose rotates `<index>` hourly into `<index>-YYYY-MM-DD-HH`."""
    return f"{index_name}-*"


def index_template(index_name: str) -> dict[str, Any]:
    """Explicit mappings, so nothing depends on dynamic mapping (reading contract, CONTRACTS.md),
    and the document id pipeline as every new index's default pipeline."""
    numbers = ("temperature", "humidity", "pressure", "cpu_temp", "temperature_raw", "pitch")
    return {
        "index_patterns": [index_pattern(index_name)],
        "priority": 100,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "default_pipeline": pipeline_id(index_name),
            },
            "mappings": {
                "dynamic": "false",
                "properties": {
                    "schema": {"type": "integer"},
                    "device_id": {"type": "keyword"},
                    "thing_name": {"type": "keyword"},
                    "seq": {"type": "long"},
                    "ts": {"type": "date", "format": "strict_date_optional_time"},
                    "arrival_ms": {"type": "date", "format": "epoch_millis"},
                    "flags": {"type": "keyword"},
                    **{name: {"type": "float"} for name in (*numbers, "roll", "yaw")},
                },
            },
        },
    }


def writer_role(index_name: str) -> dict[str, Any]:
    """Fine-grained access control role: what Firehose needs to write the rotated indices."""
    return {
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
        "index_permissions": [
            {
                "index_patterns": [index_name, index_pattern(index_name)],
                "allowed_actions": ["crud", "create_index", "indices:admin/mapping/put"],
            }
        ],
    }
