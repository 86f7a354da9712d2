"""Helpers of the API source tests: sources as the YAML gives them, and what they yield."""

from __future__ import annotations

from typing import Any

from elt_dagster.engine.sources.api.client import ApiStats, iter_api_batches
from elt_dagster.engine.sources.api.models import ApiSource

TOKEN = "tok-4f8a9c2e-very-secret"
API_KEY = "key-7d1e0b5a-very-secret"
PASSWORD = "pw-93c1a7-very-secret"


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
