"""Reading one HTTP response: its body within a total time and a size limit, its JSON, excerpts for messages."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import requests

from elt_dagster.engine.redaction import redact_text

from .errors import ApiError, excerpt
from .models import ApiSource

MAX_RESPONSE_BYTES = 256 << 20
"""Largest response body read (decompressed): one page is held in memory while its records are spooled."""


def read_body(response: requests.Response, source: ApiSource, what: str, started: float) -> None:
    """Read the body within `timeout_seconds` in all (a server sending a byte at a time would reset a per-read
    timeout forever) and at most MAX_RESPONSE_BYTES once decompressed (a gzip bomb); ApiError otherwise."""
    deadline = started + source.timeout_seconds
    body = bytearray()
    try:
        while chunk := response.raw.read1(64 << 10, decode_content=True):  # what has arrived, not a full block
            body += chunk
            if len(body) > MAX_RESPONSE_BYTES:
                raise ApiError(f"{what}: the response is larger than {MAX_RESPONSE_BYTES >> 20} MB (decompressed)")
            if time.monotonic() > deadline:
                raise requests.Timeout(f"took longer than {source.timeout_seconds:g} s in all")
    except (OSError, ValueError) as exc:  # urllib3's protocol and decoding errors
        response.close()
        raise requests.ConnectionError(str(exc)) from None
    except BaseException:
        response.close()
        raise
    response.raw.release_conn()  # the connection serves the next page
    response._content = bytes(body)  # what requests itself does when it reads a body


def parse_json(response: requests.Response, source: ApiSource, url: str) -> Any:
    """The response's JSON (numbers with a fraction as Decimal, keeping their digits); 204 No Content is []."""
    if response.status_code == 204:
        return []
    try:
        return json.loads(response.content, parse_float=Decimal)
    except RecursionError:
        message = f"{source.method} {url}: the response nests arrays or objects too deeply to read (HTTP {response.status_code})"
        raise ApiError(redact_text(message, source.secrets()), url=url, status=response.status_code) from None
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "no content type")
        message = (
            f"{source.method} {url} did not return JSON (HTTP {response.status_code}, {content_type}): "
            f"{body_excerpt(response)}"
        )
        raise ApiError(redact_text(message, source.secrets()), url=url, status=response.status_code) from None


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
