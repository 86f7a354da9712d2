"""Reading one HTTP response: its body within a size limit, its JSON, excerpts for messages."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import requests
from urllib3.exceptions import DecodeError, HTTPError, ReadTimeoutError

from .errors import ApiError, TransientError, excerpt
from .models import ApiSource

MAX_RESPONSE_BYTES = 256 << 20
"""Largest response body read (decompressed): one page is held in memory while its records are spooled."""


def read_body(response: requests.Response, what: str) -> None:
    """Read the body, at most MAX_RESPONSE_BYTES once decompressed (a gzip bomb is an ApiError).

    A connection that breaks or stalls mid-body (a server that closes after half the Content-Length, or stops
    sending for `timeout_seconds`) is a TransientError, retried like a connection error; a body that can't be
    decompressed is an ApiError. The request's `Deadline` bounds the total time.
    """
    body = bytearray()
    try:
        while chunk := response.raw.read1(64 << 10, decode_content=True):  # what has arrived, not a full block
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise ApiError(f"{what}: the response is larger than {MAX_RESPONSE_BYTES >> 20} MB (decompressed)")
    except (ReadTimeoutError, TimeoutError) as exc:
        response.close()
        raise TransientError(f"{what}: the server stopped sending mid-response ({_why(exc)})") from None
    except DecodeError as exc:
        response.close()
        raise ApiError(f"{what}: the response body can't be decompressed ({_why(exc)})") from None
    except (HTTPError, OSError, ValueError) as exc:  # urllib3's protocol errors (IncompleteRead), a reset
        response.close()
        raise TransientError(f"{what}: the connection broke mid-response ({_why(exc)})") from None
    except BaseException:
        response.close()
        raise
    response.raw.release_conn()  # the connection serves the next page
    response._content = bytes(body)  # what requests itself does when it reads a body


def _why(exc: BaseException) -> str:
    """The innermost cause of a urllib3 read error, on one line ("IncompleteRead(13000 bytes read, 13000 more
    expected)"), without the pool's address it repeats."""
    inner: BaseException = exc
    while len(inner.args) >= 2 and isinstance(inner.args[1], BaseException):
        inner = inner.args[1]
    text = str(inner).rsplit("): ", 1)[-1] if "ConnectionPool(" in str(inner) else str(inner)
    return excerpt(text.removeprefix("Connection broken: ") or type(inner).__name__)


def parse_json(response: requests.Response, source: ApiSource, url: str) -> Any:
    """The response's JSON (numbers with a fraction as Decimal, keeping their digits); 204 No Content is []."""
    if response.status_code == 204:
        return []
    try:
        return json.loads(response.content, parse_float=Decimal)
    except RecursionError:
        message = f"{source.method} {url}: the response nests arrays or objects too deeply to read (HTTP {response.status_code})"
        raise ApiError(source.redact(message), url=url, status=response.status_code) from None
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "no content type")
        message = (
            f"{source.method} {url} did not return JSON (HTTP {response.status_code}, {content_type}): "
            f"{body_excerpt(response)}"
        )
        raise ApiError(source.redact(message), url=url, status=response.status_code) from None


def body_excerpt(response: requests.Response) -> str:
    """The start of the body on one line, for messages."""
    raw = response.content[: 200 * 8]
    text = raw.decode(response.encoding or "utf-8", errors="replace") if raw else ""
    return excerpt(text) or "(empty body)"


def hint(status: int) -> str:
    """What to check for a 401/403/404."""
    if status in (401, 403):
        return " (check the source's auth credentials)"
    if status == 404:
        return " (check the source's url)"
    return ""
