"""Config history: every version of every pipeline's YAML, secrets redacted, in `elt.config_history`.

A pipeline's version goes up when its YAML text changes; the same text never makes a new version (going back
to an earlier text finds that version again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg
import yaml

from elt_dagster.engine.config import LoadedConfig

SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api[-_]?key|access[-_]?key|^key$|credential|private[-_]?key|authorization|cookie"
    r"|session)",
    re.IGNORECASE,
)
SAFE_HEADERS = {"accept", "accept-encoding", "accept-language", "content-type", "user-agent", "cache-control"}
URL_QUERY_SECRET = re.compile(
    r"([?&](api[-_]?key|key|token|access[-_]?token|secret|password|sig|signature|auth)=)([^&#\s'\"]+)", re.IGNORECASE
)
ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")  # with a `:-default`, the default could be a secret
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]+:)([^@\s'\"]+)(@)", re.IGNORECASE)
MASK = "'***'"

_DDL = """
CREATE TABLE IF NOT EXISTS elt.config_history (
    id bigserial PRIMARY KEY,
    pipeline text NOT NULL,
    version integer NOT NULL,
    content_hash text NOT NULL,
    yaml text NOT NULL,
    source_path text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline, version),
    UNIQUE (pipeline, content_hash)
);
"""


@dataclass(frozen=True)
class ConfigVersion:
    id: int
    pipeline: str
    version: int
    content_hash: str
    yaml: str
    source_path: str | None
    created_at: datetime


def redact_yaml(text: str) -> str:
    """The YAML text with secret values replaced by '***'.

    Values of keys that look secret (password, token, secret, api_key, X-API-Key, key, cookie, ...), every value under
    `auth:` but its `type`/`in`/`name`/`username`, every header but a few harmless ones (Accept, Content-Type, ...),
    passwords inside URLs and secret-looking URL query parameters are masked, and so is a `${VAR:-default}` whose
    default could be a secret. `${VAR}` references stay: they hold no
    secret, and their values never reach the text.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        root = None
    spans: list[tuple[int, int]] = []
    _collect_secret_spans(root, under_auth=False, spans=spans)
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + MASK + text[end:]
    text = URL_PASSWORD.sub(r"\1***\3", text)
    return URL_QUERY_SECRET.sub(r"\1***", text)


def _collect_secret_spans(
    node: yaml.Node | None, under_auth: bool, spans: list[tuple[int, int]], under_headers: bool = False
) -> None:
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _collect_secret_spans(item, under_auth, spans)
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        name = str(key.value)
        if name == "schema":
            continue  # column names and types: nothing secret, even a column named token_count
        secret = (
            SECRET_KEY.search(name)
            or (under_auth and name not in ("type", "in", "name", "username"))
            or (under_headers and name.lower() not in SAFE_HEADERS)
        )
        if secret and isinstance(value, yaml.ScalarNode) and not ENV_REFERENCE.match(str(value.value).strip()):
            spans.append((value.start_mark.index, value.end_mark.index))
        else:
            _collect_secret_spans(value, under_auth or name == "auth", spans, under_headers=name == "headers")


def ensure_history_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS elt")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.config_history'))")
        conn.execute(_DDL)


def record_version(conn: psycopg.Connection, loaded: LoadedConfig) -> tuple[ConfigVersion, bool]:
    """The version of this config text, stored as the next version if the text is new. Returns (version, is_new)."""
    ensure_history_table(conn)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.config_history:' || %s))", (loaded.name,))
        found = _select(conn, "WHERE pipeline = %s AND content_hash = %s", (loaded.name, loaded.content_hash))
        if found:
            return found[0], False
        row = conn.execute(
            "INSERT INTO elt.config_history (pipeline, version, content_hash, yaml, source_path) "
            "SELECT %s, coalesce(max(version), 0) + 1, %s, %s, %s FROM elt.config_history WHERE pipeline = %s "
            "RETURNING id",
            (loaded.name, loaded.content_hash, redact_yaml(loaded.text), str(loaded.path), loaded.name),
        ).fetchone()
        return _select(conn, "WHERE id = %s", (row[0],))[0], True


def history(conn: psycopg.Connection, pipeline: str | None = None) -> list[ConfigVersion]:
    """All recorded versions (of one pipeline), oldest first."""
    ensure_history_table(conn)
    if pipeline:
        return _select(conn, "WHERE pipeline = %s ORDER BY version", (pipeline,))
    return _select(conn, "ORDER BY pipeline, version", ())


def version_of(conn: psycopg.Connection, pipeline: str, version: int | None = None) -> ConfigVersion | None:
    """One version of a pipeline's config (the latest when `version` is None)."""
    ensure_history_table(conn)
    if version is None:
        found = _select(conn, "WHERE pipeline = %s ORDER BY version DESC LIMIT 1", (pipeline,))
    else:
        found = _select(conn, "WHERE pipeline = %s AND version = %s", (pipeline, version))
    return found[0] if found else None


def _select(conn: psycopg.Connection, where: str, params: tuple) -> list[ConfigVersion]:
    rows = conn.execute(
        "SELECT id, pipeline, version, content_hash, yaml, source_path, created_at FROM elt.config_history " + where,
        params,
    ).fetchall()
    return [ConfigVersion(*row) for row in rows]
