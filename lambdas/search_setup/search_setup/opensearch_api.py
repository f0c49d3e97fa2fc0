"""A minimal OpenSearch REST client on the standard library (no extra packages in the asset)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any


class OpenSearchError(RuntimeError):
    """OpenSearch answered with an error status; the message includes its reason."""


def request(
    endpoint: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    auth: tuple[str, str],
    timeout: float = 30.0,
) -> dict[str, Any]:
    """One JSON request. `endpoint` is a base URL: https://vpc-... in AWS, http://127.0.0.1:N
    locally."""
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 - the endpoint comes from the stack, not users
        endpoint.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            text = response.read().decode() or "{}"
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise OpenSearchError(f"{method} {path} -> HTTP {err.code}: {detail}") from err
    return dict(json.loads(text))


def request_with_retry(
    endpoint: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    auth: tuple[str, str],
    deadline: float,
) -> dict[str, Any]:
    """Retry connection errors and 5xx (a new domain may still be starting) until `deadline`
    (a time.monotonic() value); 4xx errors are final."""
    delay = 2.0
    while True:
        try:
            return request(endpoint, method, path, body, auth)
        except OpenSearchError as err:
            if "HTTP 5" not in str(err) or time.monotonic() + delay > deadline:
                raise
        except urllib.error.URLError:
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
