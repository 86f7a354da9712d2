"""Fixtures of the API source tests: a real local HTTP server, and retries without waiting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elt_dagster.engine.sources.api import client as api
from elt_dagster_tests.http_api import FakeApi, serving


@pytest.fixture
def server() -> Iterator[FakeApi]:
    """A FakeApi serving in a background thread for one test, stopped afterwards."""
    with serving() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exponential backoff in milliseconds, so retry tests take no time (Retry-After limits stay as shipped).

    Also keeps a proxy from the environment away from the test server.
    """
    monkeypatch.setattr(api, "BACKOFF_MULTIPLIER", 0.01)
    monkeypatch.setattr(api, "BACKOFF_MAX", 0.05)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
