"""Secrets are masked wherever config, URLs or messages are shown or stored."""

from __future__ import annotations

import pytest

from elt_dagster.engine.db import redact_url
from elt_dagster.engine.state.history import redact_yaml


@pytest.mark.parametrize(
    "url",
    [
        "postgresql:///db?password=s3cret&host=/tmp",
        "host=db user=u password=s3cret dbname=x",
        "postgresql://u:s3cret@h/db",
    ],
)
def test_passwords_are_masked_in_every_connection_string_form(url: str) -> None:
    assert "s3cret" not in redact_url(url) and "***" in redact_url(url)


def test_history_masks_defaults_keys_cookies_and_headers_but_not_the_schema() -> None:
    text = redact_yaml(
        "target:\n  password: ${DB_PASSWORD:-hunter2}\n  user: ${DB_USER}\nsources:\n  - type: api\n    url: https://x\n"
        "    params:\n      key: AIza123\n      status: open\n    headers:\n      Accept: application/json\n"
        "      Cookie: session=abc\nschema:\n  columns:\n    token_count: integer\n"
    )
    for secret in ("hunter2", "AIza123", "session=abc"):
        assert secret not in text
    assert "${DB_USER}" in text and "status: open" in text and "Accept: application/json" in text
    assert "token_count: integer" in text
