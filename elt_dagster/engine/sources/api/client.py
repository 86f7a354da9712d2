"""HTTP API sources: fetch JSON page by page, flatten the records and yield bounded string batches.

`iter_api_batches` pages through the API with the source's paginator (`paginators.py`), signs requests with its
auth (`auth.py`), retries transient failures with backoff and turns every other failure into an `ApiError` whose
message names the (redacted) URL, the HTTP status and an excerpt of the body. Credentials never appear in a
message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pyarrow as pa
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.exceptions import ProtocolError

from elt_dagster.engine.sources.files import readers

from .auth import CredentialsStayHome
from .cursor import max_cursor
from .deadline import Deadline
from .errors import ApiError, TransientError, excerpt
from .models import ApiSource
from .paginators import Page, Paginator, Request, build_paginator
from .records import flattened, records_of
from .responses import body_excerpt, hint, parse_json, read_body

RETRY_ATTEMPTS = 3
"""Attempts per request (the first one included) for connection errors (also a connection that breaks mid-body),
timeouts, HTTP 5xx and 429. Each attempt ends within the source's `timeout_seconds` in all (`Deadline`)."""
BACKOFF_MULTIPLIER = 0.5
"""Exponential backoff between attempts: BACKOFF_MULTIPLIER * 2**(attempt - 1) seconds, at most BACKOFF_MAX."""
BACKOFF_MAX = 8.0
RETRY_AFTER_MIN = 0.2
"""Shortest wait for a `Retry-After` header, so that `Retry-After: 0` doesn't use up the attempts at once."""
RETRY_AFTER_MAX = 60.0
"""Longest wait for a `Retry-After` header."""

__all__ = ["ApiError", "ApiSource", "ApiStats", "iter_api_batches", "max_cursor"]


@dataclass
class ApiStats:
    """What one `iter_api_batches` run did; filled in as it goes (pass one in to read it afterwards).

    `stopped` says why paging ended: `single_page` (no pagination), `empty_page`, `no_next` (no next
    cursor, URL or link), `repeated_cursor`, `total_reached`, `repeated_page` (the API sent a page it had sent
    already: its records are not read twice) or `max_pages`. The last two are worth a warning.
    """

    pages: int = 0
    records: int = 0
    stopped: str | None = None
    max_cursor: str | None = None


def iter_api_batches(
    source: ApiSource, cursor_value: str | None = None, *, stats: ApiStats | None = None
) -> Iterator[readers.RawBatch]:
    """Fetch the API page by page and yield its records as string batches of at most `readers.BATCH_ROWS` rows.

    Nested objects become `parent_child` columns and lists JSON text (`json_records.flatten_record`);
    `row_numbers` are the records' 1-based positions in the whole stream. Holds at most one page plus one
    batch. With `incremental`, `<param>=<cursor_value or initial_value>` is sent with the requests, and
    `stats.max_cursor` ends as the highest `cursor_field` value seen (see `max_cursor`).
    Raises `ApiError` for anything that goes wrong.
    """
    stats = stats if stats is not None else ApiStats()
    start_cursor = cursor_value if cursor_value is not None else _initial_value(source)
    stats.max_cursor = start_cursor
    records: list[dict[str, str | None]] = []
    numbers: list[int] = []
    with CredentialsStayHome(source) as session:
        for record in _iter_records(session, source, start_cursor, stats):
            stats.records += 1
            records.append(record)
            numbers.append(stats.records)
            if len(records) >= readers.BATCH_ROWS:
                yield _batch(records, numbers, source, stats)
                records, numbers = [], []
    if records:
        yield _batch(records, numbers, source, stats)


def _iter_records(
    session: requests.Session, source: ApiSource, cursor_value: str | None, stats: ApiStats
) -> Iterator[dict[str, str | None]]:
    """Every record of every page (flattened), until the paginator or `max_pages` stops; sets `stats`."""
    paginator = build_paginator(source.paginate)
    request: Request | None = Request(source.url, _first_params(source, cursor_value))
    paginator.init_request(request)
    seen: set[bytes] = set()
    while request is not None:
        if stats.pages >= source.max_pages:
            if source.on_max_pages == "fail":
                raise ApiError(
                    f"{source.shown_url(source.url)}: max_pages ({source.max_pages}) was reached with more pages "
                    "to fetch: raise max_pages, or set on_max_pages: warn to load what was fetched"
                )
            stats.stopped = "max_pages"
            return
        page = _fetch(session, source, request)
        if page.digest in seen:  # a cycle of next links or cursors, or a page parameter the API ignores
            stats.stopped = "repeated_page"
            return
        seen.add(page.digest)
        stats.pages += 1
        items = records_of(page, source.records_path)
        yield from flattened(items, page, stats.pages)
        stats.stopped = paginator.update_state(page, items)
        if stats.stopped:
            return
        request, stats.stopped = _next_request(paginator, request, page, source)


def _next_request(
    paginator: Paginator, request: Request, page: Page, source: ApiSource
) -> tuple[Request | None, str | None]:
    """The paginator's next request, checked: a malformed next link (`http://[::1`) is one ApiError."""
    try:
        following, stopped = paginator.next_request(request, page)
        if following is not None:
            _check_same_origin(source, page, following.url)
    except ValueError as exc:  # urljoin / urlsplit of a malformed link: "Invalid IPv6 URL", "Port out of range"
        raise ApiError(f"{source.shown_url(page.url)}: the next page's link is not a valid URL ({exc})") from None
    return following, stopped


def _first_params(source: ApiSource, cursor_value: str | None) -> dict[str, str]:
    params = {name: _param_text(value) for name, value in source.params.items()}
    if source.incremental and cursor_value is not None:
        params[source.incremental.param] = cursor_value
    return params


def _initial_value(source: ApiSource) -> str | None:
    return source.incremental.initial_value if source.incremental else None


def _param_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_same_origin(source: ApiSource, page: Page, next_url: str) -> None:
    """Refuse to send credentials to another host than the one that gave the next page's URL."""
    if not (source.auth or source.headers):
        return
    a, b = urlsplit(page.url), urlsplit(next_url)
    if (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
        raise ApiError(
            f"the next page's URL {source.shown_url(next_url)} (from {source.shown_url(page.url)}) "
            "is on another host or scheme; not sending the source's credentials there"
        )


def _batch(
    records: list[dict[str, str | None]], numbers: list[int], source: ApiSource, stats: ApiStats
) -> readers.RawBatch:
    if source.incremental:
        column = source.incremental.column
        stats.max_cursor = max_cursor((r.get(column) for r in records), stats.max_cursor)
    return readers.RawBatch(readers.records_to_table(records), pa.array(numbers, pa.int64()))


# --- one request ----------------------------------------------------------------------------------------------


def _fetch(session: requests.Session, source: ApiSource, request: Request) -> Page:
    """One page, retried on broken connections, timeouts, 5xx and 429; any other failure is an ApiError."""
    body = source.json_body if source.method == "POST" else None
    prepared = session.prepare_request(requests.Request(source.method, request.url, params=request.params, json=body))
    url = source.shown_url(prepared.url or request.url)
    retrying = Retrying(
        stop=stop_after_attempt(RETRY_ATTEMPTS),
        wait=_wait,
        retry=retry_if_exception_type(TransientError),
        reraise=True,
    )
    try:
        response = retrying(_send, session, prepared, source, url)
    except TransientError as exc:
        message = f"{exc.message} (gave up after {RETRY_ATTEMPTS} attempts)"
        raise ApiError(source.redact(message), url=url, status=exc.status) from None
    except ApiError as exc:
        raise ApiError(source.redact(str(exc)), url=url, status=exc.status) from None
    next_link = response.links.get("next", {}).get("url")
    digest = hashlib.blake2b(response.content, digest_size=16).digest()
    return Page(parse_json(response, source, url), response.url, url, next_link, digest)


def _send(
    session: requests.Session, prepared: requests.PreparedRequest, source: ApiSource, url: str
) -> requests.Response:
    """Send once, within `timeout_seconds` in all; a transient failure raises TransientError, any other ApiError."""
    what = f"{source.method} {url}"
    # what Session.request does: proxies, CA bundle and TLS settings from the environment
    settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
    seconds = source.timeout_seconds
    with Deadline(seconds) as deadline:
        try:
            response = session.send(prepared, timeout=seconds, **{**settings, "stream": True})
            read_body(response, what)
        except (requests.RequestException, TransientError) as exc:
            if deadline.expired:
                slow = f"{what} took longer than {seconds:g} s in all: the server connected but answered too slowly"
                raise TransientError(slow) from None
            raise _failure(exc, what, seconds) from None
    status = response.status_code
    if status < 400:
        return response
    message = f"{what} returned HTTP {status} {response.reason or ''}".rstrip() + f": {body_excerpt(response)}"
    if status == 429 or status >= 500:
        raise TransientError(message, status, _retry_after(response))
    raise ApiError(message + hint(status), url=url, status=status)


def _failure(exc: Exception, what: str, seconds: float) -> Exception:
    """The error for a failed attempt: transient when the connection failed, broke or stalled."""
    if isinstance(exc, TransientError):
        return exc
    if isinstance(exc, requests.ConnectTimeout):
        return TransientError(f"{what}: could not connect within {seconds:g} s")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{what} timed out after {seconds:g} s (connected; no response)")
    if isinstance(exc, requests.ConnectionError) and isinstance(exc.args[0] if exc.args else None, ProtocolError):
        return TransientError(f"{what}: the server closed the connection without a response ({_reason(exc)})")
    if isinstance(exc, requests.ConnectionError):
        return TransientError(f"{what}: could not connect ({_reason(exc)})")
    return ApiError(f"{what} failed: {_reason(exc)}")


def _wait(retry_state: RetryCallState) -> float:
    """The server's Retry-After (within RETRY_AFTER_MIN..RETRY_AFTER_MAX), else exponential backoff."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        return min(max(exc.retry_after, RETRY_AFTER_MIN), RETRY_AFTER_MAX)
    return wait_exponential(multiplier=BACKOFF_MULTIPLIER, max=BACKOFF_MAX)(retry_state)


def _retry_after(response: requests.Response) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests exception ("Connection refused"), without the URL it repeats."""
    inner = exc
    for _ in range(5):
        cause = getattr(inner, "reason", None)
        if not isinstance(cause, BaseException):
            cause = next((arg for arg in inner.args if isinstance(arg, BaseException)), None)
        if not isinstance(cause, BaseException):
            break
        inner = cause
    text = re.sub(r"^(<[^<>]*>|\w+\([^()]*\)): ", "", str(inner))
    return excerpt(text or type(inner).__name__)
