"""Calling the emulated OpenSearch's REST layer without HTTP, for the tests of this folder."""

import json

from localcloud.opensearch.api import Api


def call(api: Api, method, path, body=None, **params):
    """(status, body) of one request; a dict or list body is sent as JSON, a str as it is."""
    if isinstance(body, dict | list):
        raw = json.dumps(body).encode()
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = body or b""
    response = api.handle(method, path, {k: str(v) for k, v in params.items()}, raw)
    return response.status, response.body


def ndjson(*lines):
    return "".join(json.dumps(line) + "\n" for line in lines)


def put(api: Api, index, doc_id, source, **params):
    """One `index` action through `_bulk` (as Firehose writes): (status, the item's result)."""
    action = {"_index": index} if doc_id is None else {"_index": index, "_id": doc_id}
    status, body = call(api, "POST", "/_bulk", ndjson({"index": action}, source), **params)
    assert status == 200, body
    item = body["items"][0]["index"]
    return item["status"], item
