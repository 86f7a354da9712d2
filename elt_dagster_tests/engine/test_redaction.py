"""Secrets are masked wherever config, URLs or messages are shown or stored."""

from __future__ import annotations

import json

import pytest
import yaml

from elt_dagster.engine.redaction import (
    is_secret_name,
    mask_cells,
    mask_values,
    redact_text,
    redact_url,
    redact_yaml,
)
from elt_dagster.engine.report import text_table


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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example.com/x?api_key=s3cret&page=2", "https://api.example.com/x?api_key=***&page=2"),
        ("https://api.example.com/x?page=2&client_secret=s3cret", "https://api.example.com/x?page=2&client_secret=***"),
        ("https://api.example.com/x?access_token=s3cret#top", "https://api.example.com/x?access_token=***#top"),
        ("https://ada:s3cret@api.example.com/x", "https://ada:***@api.example.com/x"),
        ("postgresql://loader:s3cret@db:5432/w?sslmode=require", "postgresql://loader:***@db:5432/w?sslmode=require"),
        ("postgresql:///w?host=/tmp/pg&password=s3cret", "postgresql:///w?host=/tmp/pg&password=***"),
        ("host=db port=5432 password=s3cret dbname=w", "host=db port=5432 password=*** dbname=w"),
        ("host=db password='s3 cret' dbname=w", "host=db password=*** dbname=w"),
    ],
)
def test_urls_and_connection_strings_mask_only_the_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_url_shown_as_a_source_drops_credentials_and_keeps_the_rest() -> None:
    url = "https://ada:s3cret@api.example.com/v1/items?sid=k1&limit=5&token=t1&q=a%20b"
    assert redact_url(url, ["sid"], drop=True) == "https://api.example.com/v1/items?limit=5&q=a%20b"
    assert redact_url("https://api.example.com/v1/items?token=t1", drop=True) == "https://api.example.com/v1/items"


@pytest.mark.parametrize(
    "name", ["password", "DB_PASSWORD", "client_secret", "X-API-Key", "apikey", "access_token", "Cookie", "key", "sig"]
)
def test_one_list_of_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["user", "username", "host", "page", "limit", "status", "keyword", "monkey"])
def test_harmless_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_yaml_masks_nested_secrets_headers_and_auth_but_keeps_env_references() -> None:
    text = redact_yaml(
        "target:\n  user: loader\n  password: pw-1\n  url: postgresql://u:pw-2@h/db\nsources:\n"
        "  - url: https://x.example/a?api_key=pw-3&page=1\n    headers:\n      Accept: application/json\n"
        "      X-Custom-Auth: pw-4\n    auth:\n      type: basic\n      username: ada\n"
        "      password: ${API_PASSWORD}\n    params:\n      client_secret: pw-5\n      status: open\n"
    )
    for secret in ("pw-1", "pw-2", "pw-3", "pw-4", "pw-5"):
        assert secret not in text
    masked = yaml.safe_load(text)
    assert masked["target"]["user"] == "loader" and masked["target"]["password"] == "***"
    source = masked["sources"][0]
    assert source["auth"] == {"type": "basic", "username": "ada", "password": "${API_PASSWORD}"}
    assert source["headers"] == {"Accept": "application/json", "X-Custom-Auth": "***"}
    assert source["params"] == {"client_secret": "***", "status": "open"}
    assert source["url"] == "https://x.example/a?api_key=***&page=1"


def test_text_masks_given_secrets_raw_and_url_encoded_and_urls_in_it() -> None:
    text = redact_text(
        "GET https://u:pw-9@h.example/x?token=tk-1&page=2 failed: echoed a/b c+d and a%2Fb%20c%2Bd",
        secrets=["a/b c+d"],
    )
    assert "pw-9" not in text and "tk-1" not in text and "a/b c+d" not in text and "a%2Fb%20c%2Bd" not in text
    assert "page=2" in text and "https://u:***@h.example/x?token=***" in text


def test_yaml_keeps_layout_and_comments_and_masks_defaults() -> None:
    text = redact_yaml(
        "# the warehouse\ntarget:\n  url: postgresql://u:pw-7@h/db   # main\n  password: ${PW:-pw-8}\n"
        "sources:\n  - type: api\n    url: https://h/x?client_secret=pw-6&a=1\n    auth:\n      type: bearer\n"
        "      token: ${TOKEN}\n"
    )
    for secret in ("pw-6", "pw-7", "pw-8"):
        assert secret not in text
    assert text.startswith("# the warehouse\ntarget:\n") and "# main" in text
    assert "token: ${TOKEN}" in text and "a=1" in text


def test_yaml_masks_a_libpq_password_written_in_a_url_value() -> None:
    text = redact_yaml("target:\n  url: host=db port=5432 password=pw-11 dbname=w\n")
    assert "pw-11" not in text and "host=db port=5432 password=***" in text and "dbname=w" in text


def test_a_secret_with_a_newline_is_masked_whole_and_line_by_line() -> None:
    secret = "first-part-1\nsecond-part-2"
    for message in (f"bad value {secret}", f"bad value {' '.join(secret.split())}", "echo: second-part-2"):
        masked = redact_text(message, [secret])
        assert "first-part-1" not in masked and "second-part-2" not in masked


def test_mask_values_finds_a_secret_raw_url_encoded_and_json_escaped() -> None:
    secret = 'tok/"1é 2'
    text = f"raw {secret}; url /v1/tok/%221%C3%A9%202/x; form tok%2F%221%C3%A9+2; json {json.dumps({'t': secret})}"
    masked = mask_values(text, [secret])
    assert masked == 'raw ***; url /v1/***/x; form ***; json {"t": "***"}'


def test_mask_cells_masks_each_cell_before_a_table_cuts_it() -> None:
    secret = "tok-8d2f6b-in-a-cell"
    rows = [(1, "/" + "x" * 49 + f"/{secret}/a.csv", None), (2, {"path": secret}, "plain")]
    cut = text_table(["id", "source"], [row[:2] for row in rows[:1]])
    assert secret[:8] in cut and secret not in cut  # cut mid-secret: masking the drawn table would miss it
    masked = mask_cells(rows, [secret])
    assert masked == [[1, "/" + "x" * 49 + "/***/a.csv", None], [2, "{'path': '***'}", "plain"]]
    assert "tok-8d2f" not in text_table(["id", "source", "note"], masked)
    assert mask_cells(rows, []) == [list(row) for row in rows]
