"""Reading a response body: a connection that breaks or stalls mid-body is retried, then one line naming the URL."""

from __future__ import annotations

import json

import pytest

from elt_dagster.engine.sources.api import client as api
from elt_dagster.engine.sources.api.errors import ApiError
from elt_dagster_tests.engine.sources.api.helpers import API_KEY, numbered, rows, source
from elt_dagster_tests.http_api import FakeApi, Reply, Seen

AUTH = {"type": "api_key", "name": "key", "value": API_KEY, "in": "query"}


def big_page() -> bytes:
    """A page of about 26 KB."""
    body = json.dumps([{"id": i, "name": "x" * 40} for i in range(400)]).encode()
    assert 25_000 < len(body) < 27_000
    return body


def test_a_body_cut_mid_way_is_retried_then_one_line_naming_the_url(server: FakeApi) -> None:
    body = big_page()
    url = server.route("/items", lambda s: Reply(body, cut_at=len(body) // 2))
    with pytest.raises(ApiError) as caught:
        rows(source(url, auth=AUTH))
    message = str(caught.value)
    assert len(server.requests_to("/items")) == api.RETRY_ATTEMPTS  # retried like a broken connection
    assert "connection broke mid-response (IncompleteRead(" in message and "gave up after 3 attempts" in message
    assert f"{server.url('/items')}?key=***" in message and API_KEY not in message
    assert "\n" not in message and "could not connect" not in message


def test_a_body_cut_once_then_sent_whole_loads(server: FakeApi) -> None:
    body = big_page()
    sent: list[Seen] = []

    def flaky(seen: Seen) -> Reply:
        sent.append(seen)
        return Reply(body, cut_at=len(body) // 2 if len(sent) == 1 else None)

    url = server.route("/items", flaky)
    assert len(rows(source(url))) == 400
    assert len(sent) == 2


def test_a_stalled_body_is_a_slow_server_not_could_not_connect(server: FakeApi) -> None:
    url = server.route("/stall", lambda s: Reply(numbered(3), trickle=2.0))  # headers, then a byte every 2 s
    with pytest.raises(ApiError) as caught:
        rows(source(url, timeout_seconds=0.3))
    message = str(caught.value)
    assert "could not connect" not in message
    assert "stopped sending mid-response" in message or "took longer than 0.3 s in all" in message
    assert server.url("/stall") in message and "gave up after 3 attempts" in message
