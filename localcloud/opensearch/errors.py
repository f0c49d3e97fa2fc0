"""Errors of the emulated OpenSearch, shaped like OpenSearch's REST error bodies."""

from __future__ import annotations

from typing import Any

EMULATED = "the emulated OpenSearch"


class OpenSearchError(Exception):
    """An OpenSearch-style failure: HTTP status, error type and reason (plus optional fields)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        reason: str,
        caused_by: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.caused_by = caused_by
        self.extra = extra

    def cause(self) -> dict[str, Any]:
        """The error object as it appears in a bulk item or as a root cause."""
        body: dict[str, Any] = {"type": self.error_type, "reason": self.reason, **self.extra}
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by
        return body

    def body(self) -> dict[str, Any]:
        """The whole response body of a failed request."""
        root = {"type": self.error_type, "reason": self.reason, **self.extra}
        return {"error": {"root_cause": [root], **self.cause()}, "status": self.status}


def bad_request(reason: str, error_type: str = "illegal_argument_exception") -> OpenSearchError:
    return OpenSearchError(400, error_type, reason)


def parsing(reason: str) -> OpenSearchError:
    return OpenSearchError(400, "parsing_exception", reason)


def not_supported(what: str) -> OpenSearchError:
    """A feature of real OpenSearch that this emulation does not implement."""
    return OpenSearchError(
        400, "illegal_argument_exception", f"{what} is not supported by {EMULATED}"
    )


def index_not_found(name: str) -> OpenSearchError:
    return OpenSearchError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        index=name,
        **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_"},
    )
