"""The total time of one request: a server that trickles its headers can't hold an attempt longer."""

from __future__ import annotations

import pytest

from elt_dagster.engine.sources.api import client as api
from elt_dagster.engine.sources.api.errors import ApiError
from elt_dagster_tests.engine.sources.api.helpers import numbered, rows, source
from elt_dagster_tests.http_api import FakeApi, Reply


def test_headers_trickled_a_byte_at_a_time_end_at_the_total_timeout(server: FakeApi) -> None:
    # ~100 header bytes, one per 50 ms: each read is well within the timeout, the whole is ten times over it
    url = server.route("/slow-head", lambda s: Reply(numbered(1), trickle_head=0.05))
    with pytest.raises(ApiError, match=r"/slow-head took longer than 0\.5 s in all.*gave up after 3 attempts"):
        rows(source(url, timeout_seconds=0.5))
    assert len(server.requests_to("/slow-head")) == api.RETRY_ATTEMPTS


def test_a_fast_server_is_not_cut(server: FakeApi) -> None:
    url = server.route("/items", lambda s: Reply(numbered(5)))
    assert len(rows(source(url, timeout_seconds=5))) == 5
    assert len(server.requests_to("/items")) == 1
