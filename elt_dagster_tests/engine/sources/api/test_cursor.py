"""How an API source's incremental cursor is remembered."""

from __future__ import annotations

from elt_dagster.engine.sources.api.cursor import cursor_key, max_cursor
from elt_dagster.engine.sources.api.models import ApiSource


def test_api_sources_on_one_url_keep_separate_cursors() -> None:
    def source(**params: str) -> ApiSource:
        return ApiSource.model_validate({"type": "api", "url": "https://api.example.com/orders", "params": params})

    assert cursor_key(source(status="open")) != cursor_key(source(status="closed"))
    assert cursor_key(source(status="open")) == cursor_key(source(status="open"))


def test_max_cursor() -> None:
    assert max_cursor(["9", "10", None, ""], None) == "10"
    assert max_cursor(["9", "10"], "100") == "100"
    assert max_cursor(["1.5", "-3", "1e1"], "2") == "1e1"
    assert max_cursor(["2024-01-01T00:00:00+02:00", "2023-12-31T23:30:00Z"], None) == "2023-12-31T23:30:00Z"
    assert max_cursor(["2024-01-02", "2024-01-01T23:59:59"], "2023-06-01T00:00:00Z") == "2024-01-02"
    assert max_cursor(["b", "a", "10"], "1") == "b"
    assert max_cursor([None, ""], None) is None
    assert max_cursor([], "5") == "5"
