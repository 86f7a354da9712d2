"""Auth kinds against a real HTTP server: credentials are sent, and never shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from elt_dagster.engine.sources.api.client import ApiError
from elt_dagster_tests.engine.sources.api.helpers import API_KEY, PASSWORD, TOKEN, ids, numbered, rows, source
from elt_dagster_tests.http_api import FakeApi, Reply, Route, Seen


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


@pytest.mark.parametrize(
    "options",
    [
        {"auth": {"type": "api_key", "name": "X-Api-Key", "value": API_KEY}},
        {"auth": {"type": "api_key", "name": "key", "value": API_KEY, "in": "query"}},
        {"headers": {"X-Team-Token": API_KEY}},
    ],
)
def test_a_redirect_to_another_origin_gets_no_credentials(server: FakeApi, options: dict[str, Any]) -> None:
    elsewhere = server.route("/elsewhere", lambda seen: Reply(numbered(1)))
    elsewhere = elsewhere.replace("127.0.0.1", "localhost")
    url = server.route("/items", lambda seen: Reply(status=302, headers={"Location": elsewhere}))
    with pytest.raises(ApiError, match=r"redirected to .*another host or scheme; not sending"):
        rows(source(url, **options))
    assert server.requests_to("/elsewhere") == []


def test_a_redirect_on_the_same_origin_is_followed_with_credentials(server: FakeApi) -> None:
    moved = server.route("/v2/items", lambda seen: Reply(numbered(2)))
    url = server.route("/items", lambda seen: Reply(status=301, headers={"Location": moved}))
    got = rows(source(url, auth={"type": "api_key", "name": "X-Api-Key", "value": API_KEY}))
    assert ids(got) == ["1", "2"]
    assert server.requests_to("/v2/items")[0].headers.get("x-api-key") == API_KEY
