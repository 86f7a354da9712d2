"""HTTP API sources: fetch JSON page by page, flatten the records and yield bounded string batches.

A source is configured in YAML (`type: api`) and read by `iter_api_batches`, which pages through the API
(page numbers, offsets, cursors, next URLs or `Link` headers), retries transient failures with backoff and
turns every other failure into an `ApiError` whose message names the (redacted) URL, the HTTP status and an
excerpt of the body. Credentials never appear in a message or in `display_url()`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urljoin, urlsplit

import pyarrow as pa
import requests
from requests.auth import HTTPBasicAuth
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.sources.api.models import (
    _MASK,
    ApiKeyAuth,
    ApiSource,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    _redact_url,
)
from elt_dagster.engine.sources.files import readers
from elt_dagster.engine.sources.files.readers import RawBatch

RETRY_ATTEMPTS = 3
"""Attempts per request (the first one included) for connection errors, timeouts, HTTP 5xx and 429."""
BACKOFF_MULTIPLIER = 0.5
"""Exponential backoff between attempts: BACKOFF_MULTIPLIER * 2**(attempt - 1) seconds, at most BACKOFF_MAX."""
BACKOFF_MAX = 8.0
RETRY_AFTER_MIN = 0.2
"""Shortest wait for a `Retry-After` header, so that `Retry-After: 0` doesn't use up the attempts at once."""
RETRY_AFTER_MAX = 60.0
"""Longest wait for a `Retry-After` header."""
EXCERPT_CHARS = 200
"""Longest body excerpt in an error message."""


class ApiError(PipelineError):
    """An API request that failed; the message names the URL (credentials removed), the status and the body."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(message)


# --- configuration --------------------------------------------------------------------------------------------


@dataclass
class ApiStats:
    """What one `iter_api_batches` run did; filled in as it goes (pass one in to read it afterwards).

    `stopped` says why paging ended: `single_page` (no pagination), `empty_page`, `no_next` (no next
    cursor, URL or link), `repeated_cursor`, `total_reached` or `max_pages`.
    """

    pages: int = 0
    records: int = 0
    stopped: str | None = None
    max_cursor: str | None = None


@dataclass
class _Page:
    """A fetched page: its JSON, its URL (`shown`: redacted, for messages) and the `Link` header's next URL."""

    data: Any
    url: str
    shown: str
    next_link: str | None


@dataclass
class _Request:
    url: str
    params: dict[str, str]


# --- public entry points --------------------------------------------------------------------------------------


def iter_api_batches(
    source: ApiSource, cursor_value: str | None = None, *, stats: ApiStats | None = None
) -> Iterator[RawBatch]:
    """Fetch the API page by page and yield its records as string batches of at most `readers.BATCH_ROWS` rows.

    Nested objects become `parent_child` columns and lists JSON text (`readers.flatten_record`);
    `row_numbers` are the records' 1-based positions in the whole stream. Holds at most one page plus one
    batch. With `incremental`, `<param>=<cursor_value or initial_value>` is sent with the requests, and
    `stats.max_cursor` ends as the highest `cursor_field` value seen (see `max_cursor`).
    Raises `ApiError` for anything that goes wrong.
    """
    stats = stats if stats is not None else ApiStats()
    start_cursor = cursor_value if cursor_value is not None else _initial_value(source)
    stats.max_cursor = start_cursor
    batch_size = readers.BATCH_ROWS
    records: list[dict[str, str | None]] = []
    numbers: list[int] = []
    with requests.Session() as session:
        _configure_session(session, source)
        for page_records in _iter_pages(session, source, start_cursor, stats):
            for record in page_records:
                stats.records += 1
                records.append(record)
                numbers.append(stats.records)
                if len(records) >= batch_size:
                    yield _batch(records, numbers, source, stats)
                    records, numbers = [], []
    if records:
        yield _batch(records, numbers, source, stats)


def max_cursor(values: Iterable[str | None], current: str | None) -> str | None:
    """The highest of `current` and `values` (None and empty values ignored), as it was spelled.

    Compared as numbers when every value is one, else as ISO-8601 timestamps when every value is one (a
    timestamp without zone counts as UTC), else as strings.
    """
    candidates = [v for v in (current, *values) if v is not None and str(v).strip() != ""]
    if not candidates:
        return None
    texts = [str(v).strip() for v in candidates]
    for parse in (_as_number, _as_timestamp):
        keys = [parse(text) for text in texts]
        if all(key is not None for key in keys):
            return candidates[max(range(len(keys)), key=keys.__getitem__)]
    return candidates[max(range(len(texts)), key=texts.__getitem__)]


# --- paging ---------------------------------------------------------------------------------------------------


def _iter_pages(
    session: requests.Session, source: ApiSource, cursor_value: str | None, stats: ApiStats
) -> Iterator[Iterator[dict[str, str | None]]]:
    """Each page's records (flattened), until a stop condition; sets `stats.pages` and `stats.stopped`."""
    paginate = source.paginate
    request: _Request | None = _Request(source.url, _first_params(source, cursor_value))
    offset = 0
    page_number = paginate.start if isinstance(paginate, PageNumberPagination) else 0
    while request is not None:
        if stats.pages >= source.max_pages:
            stats.stopped = "max_pages"
            return
        if isinstance(paginate, PageNumberPagination):
            request.params[paginate.param] = str(page_number)
            if paginate.page_size_param and paginate.page_size:
                request.params[paginate.page_size_param] = str(paginate.page_size)
        elif isinstance(paginate, OffsetPagination):
            request.params[paginate.offset_param] = str(offset)
            request.params[paginate.limit_param] = str(paginate.limit)
        page = _fetch(session, source, request)
        stats.pages += 1
        items = _records_of(page, source)
        yield _flattened(items, page, stats.pages)
        if isinstance(paginate, NoPagination):
            stats.stopped = "single_page"
            return
        if not items:
            stats.stopped = "empty_page"
            return
        offset += len(items)
        if _total_reached(paginate, page, page_number, offset):
            stats.stopped = "total_reached"
            return
        page_number += 1
        request, stats.stopped = _next_request(source, request, page)


def _next_request(source: ApiSource, request: _Request, page: _Page) -> tuple[_Request | None, str | None]:
    """The request for the page after `page`, or None and why there is none."""
    paginate = source.paginate
    if isinstance(paginate, (PageNumberPagination, OffsetPagination)):
        return _Request(request.url, dict(request.params)), None
    if isinstance(paginate, CursorPagination):
        cursor = _scalar_text(_lookup(page.data, paginate.cursor_path))
        if cursor is None:
            return None, "no_next"
        if cursor == request.params.get(paginate.param):
            return None, "repeated_cursor"
        return _Request(request.url, {**request.params, paginate.param: cursor}), None
    if isinstance(paginate, NextUrlPagination):
        link = _scalar_text(_lookup(page.data, paginate.next_url_path))
    else:
        link = page.next_link
    if link is None:
        return None, "no_next"
    next_url = urljoin(page.url, link)
    _check_same_origin(source, page.url, next_url)
    if next_url == request.url:
        return None, "repeated_cursor"
    return _Request(next_url, {}), None


def _first_params(source: ApiSource, cursor_value: str | None) -> dict[str, str]:
    params = {name: _param_text(value) for name, value in source.params.items()}
    if source.incremental and cursor_value is not None:
        params[source.incremental.param] = cursor_value
    return params


def _initial_value(source: ApiSource) -> str | None:
    return source.incremental.initial_value if source.incremental else None


def _total_reached(paginate: Any, page: _Page, page_number: int, offset: int) -> bool:
    if isinstance(paginate, OffsetPagination) and paginate.total_path:
        total = _number_at(page, paginate.total_path, "total_path")
        return total is not None and offset >= total
    if isinstance(paginate, PageNumberPagination) and paginate.total_pages_path:
        total = _number_at(page, paginate.total_pages_path, "total_pages_path")
        return total is not None and page_number - paginate.start + 1 >= total
    return False


def _number_at(page: _Page, path: str, key: str) -> int | None:
    """The whole number at `path`; None when it's missing (some APIs send totals on the first page only)."""
    value = _lookup(page.data, path)
    if value is _MISSING or value is None:
        return None
    number = _as_number(str(value)) if not isinstance(value, bool) else None
    if number is None:
        raise ApiError(f"{key} {path!r} in the response from {page.shown} is {_excerpt(repr(value))}, not a number")
    return math.ceil(number)


def _check_same_origin(source: ApiSource, current: str, next_url: str) -> None:
    """Refuse to send credentials to another host than the one that gave the next page's URL."""
    if not (source.auth or source.headers):
        return
    a, b = urlsplit(current), urlsplit(next_url)
    if (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
        secret_names = source._secret_query_names()
        raise ApiError(
            f"the next page's URL {_redact_url(next_url, secret_names)} (from {_redact_url(current, secret_names)}) "
            "is on another host or scheme; not sending the source's credentials there"
        )


# --- one request ----------------------------------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's requested wait, in seconds."""

    def __init__(self, message: str, status: int | None, url: str, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url
        self.retry_after = retry_after


def _configure_session(session: requests.Session, source: ApiSource) -> None:
    session.headers.update(source.headers)
    auth = source.auth
    if isinstance(auth, BearerAuth):
        session.headers["Authorization"] = f"Bearer {auth.token}"
    elif isinstance(auth, ApiKeyAuth) and auth.in_ == "header":
        session.headers[auth.name] = auth.value
    elif isinstance(auth, BasicAuth):
        session.auth = HTTPBasicAuth(auth.username, auth.password)


def _fetch(session: requests.Session, source: ApiSource, request: _Request) -> _Page:
    """One page, retried on connection errors, timeouts, 5xx and 429; any other failure is an ApiError."""
    prepared = session.prepare_request(
        requests.Request(
            source.method,
            request.url,
            params=_with_query_key(source, request),
            json=source.json_body if source.method == "POST" else None,
        )
    )
    url = _redact_url(prepared.url or request.url, source._secret_query_names())
    retrying = Retrying(
        stop=stop_after_attempt(RETRY_ATTEMPTS),
        wait=_wait,
        retry=retry_if_exception_type(_Transient),
        reraise=True,
    )
    try:
        response = retrying(_send, session, prepared, source, url)
    except _Transient as exc:
        message = f"{exc.message} (gave up after {RETRY_ATTEMPTS} attempts)"
        raise ApiError(_scrub(message, source), url=url, status=exc.status) from None
    next_link = response.links.get("next", {}).get("url")
    return _Page(_parse_json(response, source, url), response.url, url, next_link)


def _with_query_key(source: ApiSource, request: _Request) -> dict[str, str]:
    params = dict(request.params)
    auth = source.auth
    if isinstance(auth, ApiKeyAuth) and auth.in_ == "query":
        in_url = any(k == auth.name for k, _ in parse_qsl(urlsplit(request.url).query))
        if not in_url:
            params[auth.name] = auth.value
    return params


def _send(
    session: requests.Session, prepared: requests.PreparedRequest, source: ApiSource, url: str
) -> requests.Response:
    """Send once; a transient failure raises _Transient, any other failure ApiError."""
    what = f"{source.method} {url}"
    # what Session.request does: proxies, CA bundle and TLS settings from the environment
    settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
    try:
        response = session.send(prepared, timeout=source.timeout_seconds, **settings)
    except requests.Timeout:
        raise _Transient(f"{what} timed out after {source.timeout_seconds:g} s", None, url) from None
    except requests.ConnectionError as exc:
        raise _Transient(f"{what}: could not connect ({_reason(exc)})", None, url) from None
    except requests.RequestException as exc:
        raise ApiError(_scrub(f"{what} failed: {_reason(exc)}", source), url=url) from None
    status = response.status_code
    if status < 400:
        return response
    message = f"{what} returned HTTP {status} {response.reason or ''}".rstrip() + f": {_body_excerpt(response)}"
    if status == 429 or status >= 500:
        raise _Transient(message, status, url, _retry_after(response))
    raise ApiError(_scrub(message + _hint(status), source), url=url, status=status)


def _wait(retry_state: RetryCallState) -> float:
    """The server's Retry-After (within RETRY_AFTER_MIN..RETRY_AFTER_MAX), else exponential backoff."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
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


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check the source's auth credentials)"
    if status == 404:
        return " (check the source's url)"
    return ""


def _parse_json(response: requests.Response, source: ApiSource, url: str) -> Any:
    """The response's JSON (numbers with a fraction as Decimal, keeping their digits); 204 No Content is []."""
    if response.status_code == 204:
        return []
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type", "no content type")
        message = (
            f"{source.method} {url} did not return JSON (HTTP {response.status_code}, {content_type}): "
            f"{_body_excerpt(response)}"
        )
        raise ApiError(_scrub(message, source), url=url, status=response.status_code) from None


# --- records --------------------------------------------------------------------------------------------------


def _records_of(page: _Page, source: ApiSource) -> list[Any]:
    """The list of records in a response: at `records_path`, else the response itself."""
    data = page.data
    path = source.records_path
    if path:
        value = _lookup(data, path)
        if value is _MISSING:
            raise ApiError(
                f"records_path {path!r} is not in the response from {page.shown}; {_describe_top(data)}", url=page.shown
            )
        if value is None:
            return []
        if not isinstance(value, list):
            raise ApiError(
                f"records_path {path!r} in the response from {page.shown} is {_json_kind(value)}, not a list",
                url=page.shown,
            )
        return value
    if isinstance(data, list):
        return data
    raise ApiError(
        f"the response from {page.shown} is {_json_kind(data)}, not a list of records; "
        f"set records_path to the list inside it ({_describe_top(data)})",
        url=page.shown,
    )


def _flattened(items: list[Any], page: _Page, page_index: int) -> Iterator[dict[str, str | None]]:
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ApiError(
                f"record {index} of page {page_index} from {page.shown} is {_json_kind(item)}, not a JSON object: "
                f"{_excerpt(json.dumps(item, default=str))}",
                url=page.shown,
            )
        try:
            yield readers.flatten_record(item)
        except readers.FlattenCollision as exc:
            raise ApiError(f"record {index} of page {page_index} from {page.shown}: {exc}", url=page.shown) from None


def _batch(
    records: list[dict[str, str | None]], numbers: list[int], source: ApiSource, stats: ApiStats
) -> readers.RawBatch:
    if source.incremental:
        column = source.incremental.column
        stats.max_cursor = max_cursor((r.get(column) for r in records), stats.max_cursor)
    return readers.RawBatch(readers._records_to_table(records), pa.array(numbers, pa.int64()))


# --- helpers --------------------------------------------------------------------------------------------------

_MISSING = object()


def _lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (`data.items`, `pages.0.next`), or _MISSING."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _scalar_text(value: Any) -> str | None:
    """A cursor or next URL as text; None for missing, null, empty or false values."""
    if value is _MISSING or value is None or value is False or value == "":
        return None
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def _param_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe_top(data: Any) -> str:
    if isinstance(data, dict):
        keys = list(data)
        shown = keys[:20] + (["…"] if len(keys) > 20 else [])
        return f"top-level keys: {shown}"
    return f"the response is {_json_kind(data)}"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _as_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _as_timestamp(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _body_excerpt(response: requests.Response) -> str:
    raw = response.content[: EXCERPT_CHARS * 8]
    text = raw.decode(response.encoding or "utf-8", errors="replace") if raw else ""
    return _excerpt(text) or "(empty body)"


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
    return _excerpt(text or type(inner).__name__)


def _scrub(text: str, source: ApiSource) -> str:
    """`text` with every credential of the source (raw or URL-encoded) replaced by ***."""
    for secret in source._secrets():
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, _MASK)
    return text
