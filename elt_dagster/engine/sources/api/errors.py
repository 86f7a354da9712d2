"""`ApiError`: an API source that failed, named by its URL (credentials removed), status and body."""

from __future__ import annotations

from elt_dagster.engine.errors import PipelineError

EXCERPT_CHARS = 200
"""Longest body excerpt in an error message."""


class ApiError(PipelineError):
    """An API request that failed; the message names the URL (credentials removed), the status and the body."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(message)


def excerpt(text: str) -> str:
    """`text` on one line, cut to EXCERPT_CHARS."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


class TransientError(Exception):
    """A failure worth retrying (a broken connection, a timeout, 5xx, 429); `retry_after` is the server's requested
    wait in seconds. The message names the redacted URL."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
