"""The API source's YAML model: keys, mistakes, and its URL without credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from elt_dagster.engine.config import parse_config
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


def test_values_from_the_environment_are_masked_in_the_url_unless_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_TOKEN", "tok/4b2-env secret")
    monkeypatch.setenv("ELT_T_REGION", "eu-west-9")
    text = (
        "public_env: [ELT_T_REGION]\nsources:\n  - type: api\n"
        "    url: https://${ELT_T_REGION}.example.com/v1/${ELT_T_TOKEN}/items?a=${ELT_T_TOKEN}\n"
        "    method: POST\n    json: {query: '${ELT_T_TOKEN}'}\ntarget:\n  table: t\n"
    )
    src = parse_config(text, tmp_path / "p.yaml").config.sources[0]
    assert src.url == "https://eu-west-9.example.com/v1/tok/4b2-env secret/items?a=tok/4b2-env secret"
    assert src.display_url() == "https://eu-west-9.example.com/v1/***/items?a=***"
    sent = "https://eu-west-9.example.com/v1/tok/4b2-env%20secret/items?a=tok%2F4b2-env+secret"  # as requests sends it
    assert src.shown_url(sent) == "https://eu-west-9.example.com/v1/***/items?a=***"
    assert src.redact('echo: {"query": "tok/4b2-env secret"}') == 'echo: {"query": "***"}'
    assert "tok/4b2" not in src.describe()
