"""Delivery to OpenSearch: one `_bulk` request per buffer, retries, and the failed documents.

Follows the Firehose guide for the OpenSearch Service destination: every record is one document
of the (rotated) index, sent with a bulk `index` action; documents that fail are retried until
`RetryOptions.DurationInSeconds` has passed since the first attempt, then written to S3 as
Firehose's failed-document records (`attemptsMade`, `arrivalTimestamp`, `errorCode`,
`errorMessage`, `attemptEndingTimestamp`, `esDocumentId`, `esIndexName`, `esTypeName`,
`rawData`). With `DefaultDocumentIdFormat: FIREHOSE_DEFAULT` (the default) each document gets an
id that is stable across retries and re-reads, so a repeated delivery overwrites instead of
duplicating; with `NO_DOCUMENT_ID` the OpenSearch endpoint assigns ids. Either way the domain's
ingest pipelines run on every document and may set another `_id` (the search set-up's default
pipeline keys readings by `(device_id, seq)`); a failed-document record names the id sent.

Differences from AWS:
- Plain HTTP without request signing, to the emulated OpenSearch's endpoint.
- Only failures that can pass (HTTP 429, 5xx, connection errors) are retried; a document the
  endpoint rejects with another 4xx status is backed up at once.
- A record that is not one line of JSON object after dropping its trailing newline is not sent
  (it would break the bulk body for the other documents); it is backed up with errorCode 400,
  as a mapping failure from OpenSearch would be.
- The Firehose-generated document id is `<shardId>-<sequenceNumber>` (Firehose documents only
  that it is stable across delivery attempts); it repeats when the source stream is created
  anew, as shard ids and sequence numbers start again.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from localcloud.core.aws import REGION
from localcloud.kinesis.consumer import SourceRecord

RETRIABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})
CONNECTION_FAILED: Final = "OpenSearch.ConnectionFailed"
log = logging.getLogger("localcloud.firehose")


@dataclass(frozen=True)
class Document:
    source: SourceRecord
    body: bytes  # the record after processing
    doc_id: str | None


@dataclass(frozen=True)
class FailedDocument:
    document: Document
    index: str
    attempts: int
    error_code: str
    error_message: str
    ending_ms: int

    def to_json_line(self, type_name: str) -> bytes:
        record = {
            "attemptsMade": self.attempts,
            "arrivalTimestamp": self.document.source.arrival_ms,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
            "attemptEndingTimestamp": self.ending_ms,
            "esDocumentId": self.document.doc_id or "",
            "esIndexName": self.index,
            "esTypeName": type_name,
            "rawData": base64.b64encode(self.document.body).decode("ascii"),
        }
        return json.dumps(record).encode("utf-8") + b"\n"


def firehose_document_id(record: SourceRecord) -> str:
    return f"{record.shard_id}-{record.sequence_number}"


def single_line_json(body: bytes) -> bytes | None:
    """The document as one bulk body line, or None if it is not a single-line JSON object."""
    line = body.rstrip(b"\r\n")
    if b"\n" in line or b"\r" in line:
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return line if isinstance(parsed, dict) else None


def bulk_body(index: str, documents: Sequence[tuple[Document, bytes]]) -> bytes:
    """NDJSON: an `index` action line and the document line, for each document."""
    lines: list[bytes] = []
    for document, line in documents:
        action: dict[str, Any] = {"_index": index}
        if document.doc_id is not None:
            action["_id"] = document.doc_id
        lines.append(json.dumps({"index": action}).encode("utf-8"))
        lines.append(line)
    return b"\n".join(lines) + b"\n"


class BulkTransportError(Exception):
    """The bulk request as a whole failed (connection, or an HTTP error status)."""

    def __init__(self, code: str, message: str, retriable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = retriable


def signed_headers(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """`headers` plus a SigV4 signature for service `es`, with the credentials boto3 finds, as
    Firehose signs its requests to a domain with its role (the domain's access policy may
    require it). No credentials: the headers as they are."""
    credentials = boto3.session.Session().get_credentials()
    if credentials is None:
        return headers
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "es", REGION).add_auth(request)
    return dict(request.headers.items())


def post_bulk(endpoint: str, body: bytes, timeout: float = 30.0) -> dict[str, Any]:
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"the OpenSearch endpoint must be an http(s) URL, got {endpoint!r}")
    url = f"{endpoint.rstrip('/')}/_bulk"
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers=signed_headers(url, body, {"Content-Type": "application/x-ndjson"}),
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")[:500]
        raise BulkTransportError(str(err.code), text, err.code in RETRIABLE_STATUS) from err
    except (urllib.error.URLError, OSError) as err:
        raise BulkTransportError(CONNECTION_FAILED, str(err), True) from err
    except ValueError as err:
        raise BulkTransportError("500", f"the _bulk response is not JSON: {err}", True) from err
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BulkTransportError("500", "the _bulk response has no 'items' list", True)
    return payload


def _item_error(item: Any) -> tuple[int, str]:
    """(status, error text) of one bulk response item."""
    action = next(iter(item.values())) if isinstance(item, dict) and item else {}
    status = int(action.get("status", 500)) if isinstance(action, dict) else 500
    error = action.get("error") if isinstance(action, dict) else None
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    else:
        text = str(error or "")
    return status, text


def _sendable(
    documents: Sequence[Document], index: str, now_ms: Callable[[], int]
) -> tuple[list[tuple[Document, bytes]], list[FailedDocument]]:
    """Documents ready for the bulk body, and those that cannot be sent at all."""
    sendable: list[tuple[Document, bytes]] = []
    rejected: list[FailedDocument] = []
    for document in documents:
        line = single_line_json(document.body)
        if line is None:
            message = "mapper_parsing_exception: the record is not a single-line JSON object"
            rejected.append(FailedDocument(document, index, 0, "400", message, now_ms()))
        else:
            sendable.append((document, line))
    return sendable, rejected


def deliver_documents(
    endpoint: str,
    index: str,
    documents: Sequence[Document],
    retry_duration_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> tuple[list[Document], list[FailedDocument]]:
    """Index `documents`; return (indexed, failed) once every document has an outcome."""
    indexed: list[Document] = []
    pending, failed = _sendable(documents, index, now_ms)
    started = clock()
    attempts = 0
    delay = 0.2
    while pending:
        attempts += 1
        retry: list[tuple[Document, bytes, str, str]] = []
        try:
            items = post_bulk(endpoint, bulk_body(index, pending))["items"]
        except BulkTransportError as err:
            if not err.retriable:
                failed.extend(
                    FailedDocument(doc, index, attempts, err.code, err.message, now_ms())
                    for doc, _ in pending
                )
                break
            retry = [(doc, line, err.code, err.message) for doc, line in pending]
        else:
            for number, (doc, line) in enumerate(pending):
                status, text = _item_error(items[number]) if number < len(items) else (500, "")
                if 200 <= status < 300:
                    indexed.append(doc)
                elif status in RETRIABLE_STATUS:
                    retry.append((doc, line, str(status), text))
                else:
                    failed.append(FailedDocument(doc, index, attempts, str(status), text, now_ms()))
        if retry and clock() - started >= retry_duration_seconds:
            ending = now_ms()
            failed.extend(
                FailedDocument(doc, index, attempts, code, text, ending)
                for doc, _, code, text in retry
            )
            log.warning(
                "OpenSearch: %d document(s) failed after %d attempt(s): %s",
                len(retry),
                attempts,
                retry[0][3],
            )
            break
        pending = [(doc, line) for doc, line, _, _ in retry]
        if pending:
            sleep(min(delay, max(0.0, retry_duration_seconds - (clock() - started))))
            delay = min(delay * 2, 5.0)
    return indexed, failed
