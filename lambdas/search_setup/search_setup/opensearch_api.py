"""A minimal OpenSearch REST client on the standard library (no extra packages in the asset).

Requests are signed with HTTP basic auth of the domain's master user (fine-grained access
control's internal user database): the function already reads that user's secret, and basic auth
needs no signing library, so the asset stays stdlib-only and the function needs no `es:ESHttp*`
grant beyond the domain's access policy.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class OpenSearchError(RuntimeError):
    """OpenSearch answered with an error status; the message includes its reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def send(
    endpoint: str,
    method: str,
    path: str,
    auth: tuple[str, str],
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """One request with a raw body; the answer is JSON. `endpoint` is a base URL:
    https://vpc-... in AWS, http://127.0.0.1:N locally."""
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(  # noqa: S310 - the endpoint comes from the stack, not users
        endpoint.rstrip("/") + path,
        data=data,
        method=method,
        headers={
            "Content-Type": "application/json",
            **(headers or {}),
            "Authorization": f"Basic {token}",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            text = response.read().decode() or "{}"
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise OpenSearchError(f"{method} {path} -> HTTP {err.code}: {detail}", err.code) from err
    return dict(json.loads(text))


def request(
    endpoint: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    auth: tuple[str, str],
    timeout: float = 30.0,
) -> dict[str, Any]:
    """One JSON request."""
    data = json.dumps(body).encode() if body is not None else None
    return send(endpoint, method, path, auth, data, timeout=timeout)


def with_retry(call: Callable[[], T], deadline: float) -> T:
    """Retry connection errors and 5xx (a new domain may still be starting) until `deadline`
    (a time.monotonic() value); 4xx errors are final."""
    delay = 2.0
    while True:
        try:
            return call()
        except OpenSearchError as err:
            if err.status < 500 or time.monotonic() + delay > deadline:
                raise
        except urllib.error.URLError:
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
