"""The search document id: one document per reading, keyed by `(device_id, seq)` (CONTRACTS.md).

Firehose cannot take a document id from the record: `DocumentIdOptions` offers only its own id
(`FIREHOSE_DEFAULT`, made of the Kinesis shard and sequence number, which start again when a
stream is created anew) or none (`NO_DOCUMENT_ID`). So the domain sets the id itself: an ingest
pipeline whose `set` processor writes the `_id` metadata field from the reading's own fields,
installed as `index.default_pipeline` of every rotated index by the index template. Every index
request through `_bulk` then runs it; Firehose sends `index` actions, so a reading indexed again
overwrites its own document instead of another device's.

The id is `<device_id>:<seq>`. It is unambiguous although a device id may contain `:`: `seq` is
a JSON integer (digits only), so the last `:` of an id separates the two parts, and two different
pairs cannot give the same id. Neither part contains a character the template engine escapes
(`device_id` matches `^[a-zA-Z0-9:_-]{1,128}$`), and an id is at most 149 bytes (the limit is 512).

This module is the only place the rule is written; the local cloud's emulated OpenSearch learns
it from the pipeline installed over its REST API, as a domain does.
"""

from __future__ import annotations

from typing import Any

# A template snippet of the set processor: `{{field}}` is the document's field.
DOCUMENT_ID = "{{device_id}}:{{seq}}"


def pipeline_id(index_name: str) -> str:
    """The ingest pipeline's id, named after the index like the other set-up objects."""
    return f"{index_name}-document-id"


def document_id_pipeline() -> dict[str, Any]:
    """`PUT _ingest/pipeline/<pipeline_id>` body."""
    return {
        "description": (
            "Key each reading's document by (device_id, seq), so that a reading indexed again "
            "overwrites its own document (CONTRACTS.md, search documents)"
        ),
        "processors": [{"set": {"field": "_id", "value": DOCUMENT_ID}}],
    }
