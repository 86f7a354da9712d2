"""The HTTP API source against a real HTTP server on 127.0.0.1: auth, pagination, retries, errors, incremental."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import ValidationError

from elt_dagster.engine.sources.api import client as api
from elt_dagster.engine.sources.api.client import ApiError, ApiSource, ApiStats, iter_api_batches, max_cursor
from elt_dagster.engine.sources.files import readers

TOKEN = "tok-4f8a9c2e-very-secret"
API_KEY = "key-7d1e0b5a-very-secret"
PASSWORD = "pw-93c1a7-very-secret"


# --- the test server ------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What a route answers: a status, a body (JSON-encoded unless bytes) and headers."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[Seen], Reply]


class FakeApi:
    """A threaded HTTP server on 127.0.0.1 that answers from `routes` and records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # a client that gave up: not an error
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Route) -> str:
        """Answer requests to `path` with `handler`; returns the full URL."""
        self.routes[path] = handler
        return self.url(path)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        seen = Seen(
            method=handler.command,
            path=parts.path,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.seen.append(seen)
        route = self.routes.get(parts.path)
        reply = route(seen) if route else Reply({"error": "no such route"}, status=404)
        if reply.delay and self.stopping.wait(reply.delay):
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._answer(self)

            def do_POST(self) -> None:
                fake._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def server() -> Iterator[FakeApi]:
    """A FakeApi serving in a background thread for one test, stopped afterwards."""
    fake = FakeApi()
    fake.thread.start()
    yield fake
    fake.stopping.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exponential backoff in milliseconds, so retry tests take no time (Retry-After limits stay as shipped).

    Also keeps a proxy from the environment away from the test server.
    """
    monkeypatch.setattr(api, "BACKOFF_MULTIPLIER", 0.01)
    monkeypatch.setattr(api, "BACKOFF_MAX", 0.05)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def source(url: str, **options: Any) -> ApiSource:
    """An ApiSource for `url` as a YAML mapping would give it."""
    return ApiSource.model_validate({"type": "api", "url": url, **options})


def rows(src: ApiSource, cursor_value: str | None = None, stats: ApiStats | None = None) -> list[dict[str, Any]]:
    """Every record the source yields, in order."""
    return [row for batch in iter_api_batches(src, cursor_value, stats=stats) for row in batch.table.to_pylist()]


def numbered(count: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": i} for i in range(start, start + count)]


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


# --- auth -----------------------------------------------------------------------------------------------------


def _guarded(check: Callable[[Seen], bool]) -> Route:
    def handler(seen: Seen) -> Reply:
        if not check(seen):
            return Reply({"error": "unauthorized"}, status=401)
        return Reply(numbered(2))

    return handler


def test_bearer_auth_sends_the_token_and_never_shows_it(server: FakeApi) -> None:
    url = server.route("/items", _guarded(lambda s: s.headers.get("authorization") == f"Bearer {TOKEN}"))
    assert ids(rows(source(url, auth={"type": "bearer", "token": TOKEN}))) == ["1", "2"]

    with pytest.raises(ApiError) as caught:
        rows(source(url, auth={"type": "bearer", "token": TOKEN + "-wrong"}))
    assert caught.value.status == 401
    assert "401" in str(caught.value) and "unauthorized" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(server.requests_to("/items")) == 2  # a 401 is not retried
    assert TOKEN not in repr(source(url, auth={"type": "bearer", "token": TOKEN}))


def test_api_key_in_a_header(server: FakeApi) -> None:
    url = server.route("/items", _guarded(lambda s: s.headers.get("x-api-key") == API_KEY))
    auth = {"type": "api_key", "name": "X-Api-Key", "value": API_KEY}
    assert ids(rows(source(url, auth=auth))) == ["1", "2"]

    with pytest.raises(ApiError) as caught:
        rows(source(url, auth={**auth, "value": "nope-" + API_KEY}))
    assert caught.value.status == 401
    assert API_KEY not in str(caught.value)


def test_api_key_in_the_query_is_sent_but_never_shown(server: FakeApi) -> None:
    url = server.route("/items", _guarded(lambda s: s.params.get("api_key") == API_KEY))
    auth = {"type": "api_key", "name": "api_key", "value": API_KEY, "in": "query"}
    assert ids(rows(source(url, auth=auth, params={"q": "x"}))) == ["1", "2"]
    assert server.seen[0].params == {"q": "x", "api_key": API_KEY}
    assert "x-api-key" not in server.seen[0].headers

    wrong = "wrong-" + API_KEY
    with pytest.raises(ApiError) as caught:
        rows(source(url, auth={**auth, "value": wrong}))
    message = str(caught.value)
    assert "401" in message and "/items" in message
    assert wrong not in message and API_KEY not in message
    assert API_KEY not in (caught.value.url or "")


def test_basic_auth(server: FakeApi) -> None:
    import base64

    expected = "Basic " + base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    url = server.route("/items", _guarded(lambda s: s.headers.get("authorization") == expected))
    auth = {"type": "basic", "username": "ada", "password": PASSWORD}
    assert ids(rows(source(url, auth=auth))) == ["1", "2"]

    with pytest.raises(ApiError) as caught:
        rows(source(url, auth={**auth, "password": "x" + PASSWORD}))
    assert caught.value.status == 401
    assert PASSWORD not in str(caught.value)


def test_a_token_echoed_in_the_error_body_is_masked(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"error": f"token {TOKEN} has expired"}, status=403))
    with pytest.raises(ApiError) as caught:
        rows(source(url, auth={"type": "bearer", "token": TOKEN}))
    assert "403" in str(caught.value) and "has expired" in str(caught.value)
    assert TOKEN not in str(caught.value)


# --- pagination -----------------------------------------------------------------------------------------------


def test_page_number_until_an_empty_page(server: FakeApi) -> None:
    pages = {1: numbered(3, 1), 2: numbered(3, 4), 3: numbered(1, 7)}
    url = server.route("/items", lambda s: Reply(pages.get(int(s.params["page"]), [])))
    stats = ApiStats()
    paginate = {"type": "page_number", "page_size_param": "per_page", "page_size": 3}
    assert ids(rows(source(url, paginate=paginate), stats=stats)) == [str(i) for i in range(1, 8)]
    sent = server.requests_to("/items")
    assert [s.params["page"] for s in sent] == ["1", "2", "3", "4"]
    assert all(s.params["per_page"] == "3" for s in sent)
    assert (stats.pages, stats.records, stats.stopped) == (4, 7, "empty_page")


def test_page_number_stops_at_total_pages(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params["p"])
        return Reply({"meta": {"pages": 3}, "data": numbered(2, page * 2 + 1)})

    url = server.route("/items", handler)
    paginate = {"type": "page_number", "param": "p", "start": 0, "total_pages_path": "meta.pages"}
    stats = ApiStats()
    assert ids(rows(source(url, paginate=paginate, records_path="data"), stats=stats)) == [str(i) for i in range(1, 7)]
    assert [s.params["p"] for s in server.seen] == ["0", "1", "2"]
    assert stats.stopped == "total_reached"


def test_offset_with_total_path_makes_no_extra_request(server: FakeApi) -> None:
    everything = numbered(5)

    def handler(seen: Seen) -> Reply:
        offset, limit = int(seen.params["skip"]), int(seen.params["take"])
        return Reply({"total": len(everything), "results": everything[offset : offset + limit]})

    url = server.route("/items", handler)
    paginate = {"type": "offset", "offset_param": "skip", "limit_param": "take", "limit": 2, "total_path": "total"}
    stats = ApiStats()
    assert ids(rows(source(url, paginate=paginate, records_path="results"), stats=stats)) == ["1", "2", "3", "4", "5"]
    assert [(s.params["skip"], s.params["take"]) for s in server.seen] == [("0", "2"), ("2", "2"), ("4", "2")]
    assert stats.stopped == "total_reached"


def test_offset_without_total_stops_at_an_empty_page(server: FakeApi) -> None:
    everything = numbered(3)
    url = server.route("/items", lambda s: Reply(everything[int(s.params["offset"]) :][: int(s.params["limit"])]))
    assert ids(rows(source(url, paginate={"type": "offset", "limit": 2}))) == ["1", "2", "3"]
    assert [s.params["offset"] for s in server.seen] == ["0", "2", "3"]


def test_cursor_pagination(server: FakeApi) -> None:
    pages = {"": ("c1", numbered(2, 1)), "c1": ("c2", numbered(2, 3)), "c2": (None, numbered(1, 5))}

    def handler(seen: Seen) -> Reply:
        after, records = pages[seen.params.get("after", "")]
        return Reply({"items": records, "paging": {"next": after}})

    url = server.route("/items", handler)
    paginate = {"type": "cursor", "cursor_path": "paging.next", "param": "after"}
    stats = ApiStats()
    got = rows(source(url, paginate=paginate, records_path="items", params={"sort": "id"}), stats=stats)
    assert ids(got) == ["1", "2", "3", "4", "5"]
    assert [s.params for s in server.seen] == [
        {"sort": "id"},
        {"sort": "id", "after": "c1"},
        {"sort": "id", "after": "c2"},
    ]
    assert stats.stopped == "no_next"


def test_cursor_that_repeats_stops(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"items": numbered(1), "next": "same"}))
    stats = ApiStats()
    src = source(url, paginate={"type": "cursor", "cursor_path": "next"}, records_path="items")
    assert len(rows(src, stats=stats)) == 2
    assert (len(server.seen), stats.stopped) == (2, "repeated_cursor")


def test_next_url_pagination_relative_and_absolute(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params.get("page", "1"))
        nxt = {1: "/items?page=2", 2: server.url("/items?page=3"), 3: None}[page]
        return Reply({"links": {"next": nxt}, "data": numbered(2, page * 10)})

    url = server.route("/items", handler)
    stats = ApiStats()
    got = rows(
        source(url, paginate={"type": "next_url", "next_url_path": "links.next"}, records_path="data"), stats=stats
    )
    assert ids(got) == ["10", "11", "20", "21", "30", "31"]
    assert [s.params for s in server.seen] == [{}, {"page": "2"}, {"page": "3"}]
    assert stats.stopped == "no_next"


def test_link_header_pagination(server: FakeApi) -> None:
    def handler(seen: Seen) -> Reply:
        page = int(seen.params.get("page", "1"))
        links = [f'<{server.url("/items")}?page=1>; rel="first"']
        if page < 3:
            links.append(f'<{server.url("/items")}?page={page + 1}&per_page=2>; rel="next"')
        return Reply(numbered(2, page * 10), headers={"Link": ", ".join(links)})

    url = server.route("/items", handler)
    got = rows(source(url, paginate="link_header", params={"per_page": 2}))
    assert ids(got) == ["10", "11", "20", "21", "30", "31"]
    assert [s.params.get("page") for s in server.seen] == [None, "2", "3"]


def test_next_url_on_another_host_is_not_sent_credentials(server: FakeApi) -> None:
    other = server.url("/items").replace("127.0.0.1", "localhost")
    url = server.route("/items", lambda s: Reply({"next": other, "data": numbered(1)}))
    src = source(
        url,
        auth={"type": "bearer", "token": TOKEN},
        paginate={"type": "next_url", "next_url_path": "next"},
        records_path="data",
    )
    with pytest.raises(ApiError, match="another host"):
        rows(src)
    assert len(server.seen) == 1


def test_max_pages_stops_an_endless_paginator(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(numbered(1, int(s.params["page"]))))
    stats = ApiStats()
    assert ids(rows(source(url, paginate={"type": "page_number"}, max_pages=3), stats=stats)) == ["1", "2", "3"]
    assert (len(server.seen), stats.stopped) == (3, "max_pages")


def test_empty_first_page_gives_no_batches(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"data": []}))
    stats = ApiStats()
    src = source(url, records_path="data", paginate={"type": "page_number"})
    assert list(iter_api_batches(src, stats=stats)) == []
    assert (len(server.seen), stats.stopped) == (1, "empty_page")


# --- records --------------------------------------------------------------------------------------------------


def test_records_path_and_nested_objects_are_flattened(server: FakeApi) -> None:
    record = {
        "id": 1,
        "price": 10.50,
        "active": True,
        "note": None,
        "customer": {"name": "Ada", "address": {"city": "London"}},
        "tags": ["a", "b"],
    }
    url = server.route("/orders", lambda s: Reply({"data": {"items": [record]}}, status=200))
    batches = list(iter_api_batches(source(url, records_path="data.items")))
    assert len(batches) == 1
    table = batches[0].table
    assert all(str(column.type) == "string" for column in table.columns)
    assert table.to_pylist() == [
        {
            "id": "1",
            "price": "10.5",
            "active": "true",
            "note": None,
            "customer_name": "Ada",
            "customer_address_city": "London",
            "tags": '["a","b"]',
        }
    ]
    assert batches[0].row_numbers.to_pylist() == [1]
    assert batches[0].malformed == []


def test_json_numbers_keep_their_digits(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(b'[{"amount": 10.50, "big": 12345678901234567890.123}]'))
    assert rows(source(url)) == [{"amount": "10.50", "big": "12345678901234567890.123"}]


def test_missing_records_path_names_the_top_level_keys(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"results": [], "count": 0}))
    with pytest.raises(ApiError) as caught:
        rows(source(url, records_path="data.items"))
    message = str(caught.value)
    assert "records_path 'data.items' is not in the response from" in message
    assert "/items" in message and "['results', 'count']" in message


def test_an_object_response_without_records_path_says_to_set_it(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"results": []}))
    with pytest.raises(ApiError, match=r"set records_path.*\['results'\]"):
        rows(source(url))


def test_a_record_that_is_not_an_object_fails(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply([{"id": 1}, "oops"]))
    with pytest.raises(ApiError, match=r"record 2 of page 1 .* is a string, not a JSON object: \"oops\""):
        rows(source(url))


def test_batches_are_bounded_and_row_numbers_run_across_pages(server: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BATCH_ROWS", 3)
    pages = {1: numbered(2, 1), 2: numbered(2, 3), 3: numbered(2, 5)}
    url = server.route("/items", lambda s: Reply(pages.get(int(s.params["page"]), [])))
    batches = list(iter_api_batches(source(url, paginate={"type": "page_number"})))
    assert [b.table.num_rows for b in batches] == [3, 3]
    assert [b.row_numbers.to_pylist() for b in batches] == [[1, 2, 3], [4, 5, 6]]
    assert [r["id"] for b in batches for r in b.table.to_pylist()] == ["1", "2", "3", "4", "5", "6"]


def test_post_with_a_json_body(server: FakeApi) -> None:
    url = server.route("/search", lambda s: Reply({"hits": numbered(1)} if s.method == "POST" else {}, status=200))
    src = source(url, method="POST", json={"query": {"status": "open"}, "size": 10}, records_path="hits")
    assert ids(rows(src)) == ["1"]
    seen = server.seen[0]
    assert seen.method == "POST"
    assert seen.json() == {"query": {"status": "open"}, "size": 10}
    assert seen.headers["content-type"] == "application/json"


def test_headers_and_params_are_sent(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(numbered(1)))
    rows(source(url, headers={"X-Team": "data", "Accept": "application/json"}, params={"n": 5, "all": True}))
    seen = server.seen[0]
    assert seen.headers["x-team"] == "data"
    assert seen.params == {"n": "5", "all": "true"}


# --- retries and errors ---------------------------------------------------------------------------------------


def _sequence(*replies: Reply) -> Route:
    """Answer with each reply in turn, then repeat the last one."""
    queue = list(replies)

    def handler(seen: Seen) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


def test_429_with_retry_after_0_retries_after_a_short_wait(server: FakeApi) -> None:
    url = server.route(
        "/items", _sequence(Reply({"error": "slow down"}, 429, {"Retry-After": "0"}), Reply(numbered(2)))
    )
    started = time.monotonic()
    assert ids(rows(source(url))) == ["1", "2"]
    assert len(server.seen) == 2
    assert time.monotonic() - started >= api.RETRY_AFTER_MIN * 0.9


def test_429_retry_after_in_seconds_is_honoured(server: FakeApi) -> None:
    url = server.route(
        "/items", _sequence(Reply({"error": "slow down"}, 429, {"Retry-After": "1"}), Reply(numbered(1)))
    )
    started = time.monotonic()
    assert ids(rows(source(url))) == ["1"]
    assert time.monotonic() - started >= 0.95
    assert len(server.seen) == 2


def test_retry_after_as_an_http_date_and_capped(server: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "RETRY_AFTER_MAX", 0.3)
    past = formatdate(time.time() - 60, usegmt=True)
    url = server.route(
        "/items",
        _sequence(
            Reply("busy", 503, {"Retry-After": past}),
            Reply("busy", 503, {"Retry-After": "3600"}),
            Reply(numbered(1)),
        ),
    )
    started = time.monotonic()
    assert ids(rows(source(url))) == ["1"]
    assert len(server.seen) == 3
    assert time.monotonic() - started < 2


def test_500_three_times_gives_a_clear_error(server: FakeApi) -> None:
    body = "database exploded " + "x" * 1000
    url = server.route("/items", lambda s: Reply(body.encode(), 500, {"Content-Type": "text/plain"}))
    with pytest.raises(ApiError) as caught:
        rows(source(url, params={"q": "a"}))
    message = str(caught.value)
    assert len(server.seen) == 3 == api.RETRY_ATTEMPTS
    assert caught.value.status == 500
    assert "HTTP 500" in message and "database exploded" in message and "3 attempts" in message
    assert "/items?q=a" in message
    assert "x" * 200 not in message


def test_500_then_success_is_retried(server: FakeApi) -> None:
    url = server.route("/items", _sequence(Reply("oops", 502), Reply(numbered(1))))
    assert ids(rows(source(url))) == ["1"]
    assert len(server.seen) == 2


def test_404_fails_at_once(server: FakeApi) -> None:
    with pytest.raises(ApiError) as caught:
        rows(source(server.url("/nowhere")))
    assert len(server.seen) == 1
    assert caught.value.status == 404
    assert "HTTP 404" in str(caught.value) and "/nowhere" in str(caught.value)


def test_timeout(server: FakeApi) -> None:
    url = server.route("/slow", lambda s: Reply(numbered(1), delay=1.0))
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"timed out after 0\.3 s") as caught:
        rows(source(url, timeout_seconds=0.3))
    assert len(server.requests_to("/slow")) == api.RETRY_ATTEMPTS
    assert caught.value.status is None
    assert time.monotonic() - started < 3


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    auth = {"type": "api_key", "name": "key", "value": API_KEY, "in": "query"}
    with pytest.raises(ApiError, match=r"could not connect .*Connection refused.*3 attempts") as caught:
        rows(source(f"http://127.0.0.1:{port}/items", auth=auth))
    assert API_KEY not in str(caught.value)


def test_non_json_body(server: FakeApi) -> None:
    url = server.route(
        "/items", lambda s: Reply(b"<html><body>Login</body></html>", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(ApiError, match=r"did not return JSON \(HTTP 200, text/html\): <html><body>Login"):
        rows(source(url))
    assert len(server.seen) == 1


# --- incremental ----------------------------------------------------------------------------------------------


def test_incremental_sends_the_cursor_value_and_tracks_the_highest(server: FakeApi) -> None:
    records = [
        {"id": 1, "updated": {"at": "2024-05-01T10:00:00Z"}},
        {"id": 2, "updated": {"at": "2024-05-03T09:00:00+02:00"}},
    ]
    url = server.route("/items", lambda s: Reply(records if s.params.get("page", "1") == "1" else []))
    src = source(
        url,
        paginate={"type": "page_number"},
        incremental={"cursor_field": "updated.at", "param": "since", "initial_value": "2000-01-01"},
    )
    stats = ApiStats()
    assert len(rows(src, "2024-04-30T00:00:00Z", stats=stats)) == 2
    assert [s.params.get("since") for s in server.seen] == ["2024-04-30T00:00:00Z"] * 2  # every page keeps the filter
    assert stats.max_cursor == "2024-05-03T09:00:00+02:00"

    server.seen.clear()
    rows(src)
    assert server.seen[0].params["since"] == "2000-01-01"

    server.seen.clear()
    rows(source(url, incremental={"cursor_field": "id", "param": "since"}))
    assert "since" not in server.seen[0].params


def test_max_cursor() -> None:
    assert max_cursor(["9", "10", None, ""], None) == "10"
    assert max_cursor(["9", "10"], "100") == "100"
    assert max_cursor(["1.5", "-3", "1e1"], "2") == "1e1"
    assert max_cursor(["2024-01-01T00:00:00+02:00", "2023-12-31T23:30:00Z"], None) == "2023-12-31T23:30:00Z"
    assert max_cursor(["2024-01-02", "2024-01-01T23:59:59"], "2023-06-01T00:00:00Z") == "2024-01-02"
    assert max_cursor(["b", "a", "10"], "1") == "b"
    assert max_cursor([None, ""], None) is None
    assert max_cursor([], "5") == "5"


# --- configuration --------------------------------------------------------------------------------------------


def test_display_url_removes_credentials() -> None:
    src = source(
        "https://ada:hunter2@api.example.com/v1/items?api_key=abc123&limit=5&token=xyz",
        auth={"type": "api_key", "name": "api_key", "value": "abc123", "in": "query"},
    )
    assert src.display_url() == "https://api.example.com/v1/items?limit=5"
    assert source("https://api.example.com/v1/items").display_url() == "https://api.example.com/v1/items"
    custom = source(
        "https://h.example/x?sid=s3&a=1", auth={"type": "api_key", "name": "sid", "value": "s3", "in": "query"}
    )
    assert custom.display_url() == "https://h.example/x?a=1"


def test_config_accepts_yaml_keys_and_rejects_mistakes() -> None:
    src = source(
        "https://h.example/x",
        method="POST",
        json={"a": 1},
        auth={"type": "api_key", "name": "k", "value": "v", "in": "query"},
        paginate={"type": "cursor", "cursor_path": "next"},
    )
    assert src.json_body == {"a": 1}
    assert src.auth.in_ == "query"
    assert source("https://h.example/x").paginate.type == "none"
    assert source("https://h.example/x", auth={"type": "api_key", "name": "k", "value": "v"}).auth.in_ == "header"
    bad = [
        {"paginate": {"type": "pages"}},
        {"paginate": {"type": "page_number", "page_size": 10}},
        {"paginate": {"type": "cursor"}},
        {"auth": {"type": "bearer"}},
        {"auth": {"type": "oauth", "token": "t"}},
        {"max_pages": 0},
        {"json": {"a": 1}},  # a body needs POST
        {"pagination": "none"},
    ]
    for options in bad:
        with pytest.raises(ValidationError):
            source("https://h.example/x", **options)
    with pytest.raises(ValidationError, match="not an http"):
        source("ftp://h.example/x")
