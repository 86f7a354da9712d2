"""How an API source's incremental cursor is remembered."""

from __future__ import annotations

from elt_dagster.engine.sources.api.client import ApiSource
from elt_dagster.engine.sources.api.spool import cursor_key


def test_api_sources_on_one_url_keep_separate_cursors() -> None:
    def source(**params: str) -> ApiSource:
        return ApiSource.model_validate({"type": "api", "url": "https://api.example.com/orders", "params": params})

    assert cursor_key(source(status="open")) != cursor_key(source(status="closed"))
    assert cursor_key(source(status="open")) == cursor_key(source(status="open"))
