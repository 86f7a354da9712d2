"""The API source's YAML model: keys, mistakes, and its URL without credentials."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from elt_dagster.engine.sources.api.auth import AUTH_CLASSES
from elt_dagster.engine.sources.api.models import Auth, Paginate
from elt_dagster.engine.sources.api.paginators import PAGINATORS, build_paginator
from elt_dagster_tests.engine.sources.api.helpers import source


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


def _yaml_types(union: Any) -> set[str]:
    """The `type:` values a discriminated union of models accepts."""
    members = get_args(get_args(union)[0])
    return {value for member in members for value in get_args(member.model_fields["type"].annotation)}


def test_every_yaml_paginator_and_auth_type_has_its_class() -> None:
    assert (
        _yaml_types(Paginate)
        == set(PAGINATORS)
        == {
            "none",
            "page_number",
            "offset",
            "cursor",
            "next_url",
            "link_header",
        }
    )
    assert _yaml_types(Auth) == set(AUTH_CLASSES) == {"bearer", "api_key", "basic"}
    for kind in PAGINATORS:
        assert (
            type(build_paginator(source("https://h.example/x", paginate=_minimal(kind)).paginate)) is PAGINATORS[kind]
        )


def _minimal(kind: str) -> dict[str, str]:
    required = {"cursor": {"cursor_path": "next"}, "next_url": {"next_url_path": "links.next"}}
    return {"type": kind, **required.get(kind, {})}
