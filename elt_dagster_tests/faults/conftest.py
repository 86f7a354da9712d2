"""Fixtures of the fault suite: the local HTTP server of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elt_dagster_tests.http_api import FakeApi, serving


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    """A FakeApi for one test (no proxy between the client and it)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with serving() as fake:
        yield fake
