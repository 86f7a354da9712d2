"""Config history: every version of every pipeline's YAML, secrets redacted, in `elt.config_history`.

A pipeline's version goes up when its YAML text changes; the same text never makes a new version (going back
to an earlier text finds that version again).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

import psycopg

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.redaction import redact_yaml

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

    @property
    def label(self) -> str:
        """`orders v2 (2026-11-28 10:00 UTC)`: the version as a diff header names it."""
        return f"{self.pipeline} v{self.version} ({self.created_at:%Y-%m-%d %H:%M %Z})"


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


def versions_since(
    conn: psycopg.Connection, pipeline: str, seen: tuple[int, str] | None, limit: int
) -> list[ConfigVersion]:
    """The versions recorded after `seen` (a version and its content hash), oldest first, at most `limit`; all of
    them when `seen` is None or is not in this history (the table was emptied, or the target moved)."""
    ensure_history_table(conn)
    version, content_hash = seen or (0, "")
    where = (
        "WHERE pipeline = %s AND version > coalesce((SELECT version FROM elt.config_history "
        "WHERE pipeline = %s AND version = %s AND content_hash = %s), 0) ORDER BY version LIMIT %s"
    )
    return _select(conn, where, (pipeline, pipeline, version, content_hash, limit))


def _select(conn: psycopg.Connection, where: str, params: tuple) -> list[ConfigVersion]:
    rows = conn.execute(
        "SELECT id, pipeline, version, content_hash, yaml, source_path, created_at FROM elt.config_history " + where,
        params,
    ).fetchall()
    return [ConfigVersion(*row) for row in rows]


def describe_change(previous: ConfigVersion | None, current: ConfigVersion) -> str:
    """What tells a version apart, in one line: `+2 -1 lines: <first added line>` against the previous version;
    the first version's first line that is not a comment."""
    lines = current.yaml.splitlines()
    if previous is None:
        first = next((s for s in map(str.strip, lines) if s and not s.startswith("#")), "")
        return f"first version, {len(lines)} lines: {first}"
    diff = list(difflib.unified_diff(previous.yaml.splitlines(), lines, lineterm="", n=0))[2:]  # past the headers
    changed = [line for line in diff if line.startswith(("+", "-"))]
    added = [line[1:].strip() for line in changed if line.startswith("+")]
    removed = [line[1:].strip() for line in changed if line.startswith("-")]
    if not changed:
        return "only redacted (secret) values changed"
    shown = next((s for s in added if s), None) or "removed: " + next((s for s in removed if s), "(blank lines)")
    return f"+{len(added)} -{len(removed)} lines: {shown}"


def version_diff(old: ConfigVersion, new: ConfigVersion) -> list[str]:
    """A unified diff of two versions' (redacted) YAML, headed `--- orders v1 (...)` / `+++ orders v2 (...)`;
    empty when only redacted values differ."""
    before, after = old.yaml.splitlines(), new.yaml.splitlines()
    return list(difflib.unified_diff(before, after, fromfile=old.label, tofile=new.label, lineterm=""))
