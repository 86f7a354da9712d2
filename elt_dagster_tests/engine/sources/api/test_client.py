"""The HTTP client against a real HTTP server: records, retries, errors and the incremental cursor."""

from __future__ import annotations

import gzip
import json
import socket
import time
from email.utils import formatdate

import pytest

from elt_dagster.engine.sources.api import client as api
from elt_dagster.engine.sources.api import responses
from elt_dagster.engine.sources.api.client import ApiError, ApiStats, iter_api_batches
from elt_dagster.engine.sources.files import readers
from elt_dagster_tests.engine.sources.api.helpers import API_KEY, ids, numbered, rows, source
from elt_dagster_tests.http_api import FakeApi, Reply, Route, Seen


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
    # the per-read timeout and the attempt's deadline end together: either says so
    with pytest.raises(ApiError, match=r"(timed out after|took longer than) 0\.3 s") as caught:
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


def test_a_secret_header_echoed_in_the_error_body_is_masked(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply({"error": f"bad {s.headers.get('authorization')}"}, status=403))
    with pytest.raises(ApiError) as caught:
        rows(source(url, headers={"Authorization": f"Token {API_KEY}"}))
    assert "403" in str(caught.value) and "bad ***" in str(caught.value)
    assert API_KEY not in str(caught.value)


def test_a_response_that_trickles_ends_at_the_total_timeout(server: FakeApi) -> None:
    url = server.route("/slow-body", lambda s: Reply(numbered(50), trickle=0.05))  # ~25 s at a byte per 50 ms
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"took longer than 1 s in all.*gave up after 3 attempts"):
        rows(source(url, timeout_seconds=1))
    assert time.monotonic() - started < 15
    assert len(server.requests_to("/slow-body")) == api.RETRY_ATTEMPTS


def test_a_response_larger_than_the_limit_is_an_error(server: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 100_000)
    bomb = gzip.compress(json.dumps(numbered(1) * 50_000).encode())  # ~0.5 MB of JSON in a few KB
    url = server.route("/bomb", lambda s: Reply(bomb, headers={"Content-Encoding": "gzip"}))
    assert len(bomb) < 100_000
    with pytest.raises(ApiError, match=r"/bomb: the response is larger than 0 MB \(decompressed\)"):
        rows(source(url))
