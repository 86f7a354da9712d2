"""Bookkeeping in PostgreSQL (schema `elt`): file fingerprints for incremental runs and loaded-row counters.

A file's fingerprint is written in the same transaction as the rows read from it, so a crash never marks a
file as done whose rows did not land.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import xxhash

RACY_SECONDS = 2.0
"""A file modified this close to when it was recorded may have changed again within the same mtime tick."""

_DDL = """
CREATE SCHEMA IF NOT EXISTS elt;
CREATE TABLE IF NOT EXISTS elt.file_fingerprints (
    pipeline text NOT NULL,
    path text NOT NULL,
    size bigint NOT NULL,
    mtime_ns bigint NOT NULL,
    content_hash text NOT NULL,
    rows bigint NOT NULL,
    run_id text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, path)
);
CREATE TABLE IF NOT EXISTS elt.api_cursors (
    pipeline text NOT NULL,
    source text NOT NULL,
    cursor_value text NOT NULL,
    run_id text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, source)
);
CREATE TABLE IF NOT EXISTS elt.table_counts (
    pipeline text PRIMARY KEY,
    table_name text NOT NULL,
    row_count bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Fingerprint:
    """What a file looked like: stat facts, plus its content hash once it has been read."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str = ""

    @classmethod
    def stat(cls, path: Path) -> Fingerprint:
        info = path.stat()
        return cls(str(path), info.st_size, info.st_mtime_ns)

    def same_stat(self, other: Fingerprint) -> bool:
        return (self.size, self.mtime_ns) == (other.size, other.mtime_ns)

    def with_content_hash(self) -> Fingerprint:
        return Fingerprint(self.path, self.size, self.mtime_ns, content_hash(Path(self.path)))


def content_hash(path: Path) -> str:
    """XXH3-128 of the file's bytes (a few GB/s, so cheap next to parsing it)."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_state_tables(conn: psycopg.Connection) -> None:
    """Create the bookkeeping schema and tables if missing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.state_ddl'))")
        conn.execute(_DDL)


def stored_fingerprints(conn: psycopg.Connection, pipeline: str) -> dict[str, tuple[Fingerprint, float]]:
    """path -> (fingerprint, when it was recorded as epoch seconds) for a pipeline's loaded files."""
    rows = conn.execute(
        "SELECT path, size, mtime_ns, content_hash, extract(epoch FROM recorded_at) "
        "FROM elt.file_fingerprints WHERE pipeline = %s",
        (pipeline,),
    ).fetchall()
    return {row[0]: (Fingerprint(row[0], row[1], row[2], row[3]), float(row[4])) for row in rows}


def files_to_read(
    current: Iterable[Fingerprint], stored: dict[str, tuple[Fingerprint, float]], check_content: bool = True
) -> list[Fingerprint]:
    """The files that are new or changed since they were recorded.

    Stat only, except that with `check_content` a file written within the same mtime tick as its recording is
    hashed to tell (a sensor passes False: it must never read unchanged files).
    """
    changed = []
    for now in current:
        before = stored.get(now.path)
        if before is None:
            changed.append(now)
            continue
        old, recorded_at = before
        if (now.size, now.mtime_ns) != (old.size, old.mtime_ns):
            changed.append(now)
        elif (
            check_content
            and now.mtime_ns / 1e9 >= recorded_at - RACY_SECONDS
            and now.with_content_hash().content_hash != old.content_hash
        ):
            changed.append(now)  # written again within the same mtime tick as when it was recorded
    return changed


def record_file(conn: psycopg.Connection, pipeline: str, fingerprint: Fingerprint, rows: int, run_id: str) -> None:
    """Mark a file as loaded (call inside the load's transaction)."""
    conn.execute(
        "INSERT INTO elt.file_fingerprints (pipeline, path, size, mtime_ns, content_hash, rows, run_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (pipeline, path) DO UPDATE SET size = EXCLUDED.size, "
        "mtime_ns = EXCLUDED.mtime_ns, content_hash = EXCLUDED.content_hash, rows = EXCLUDED.rows, "
        "run_id = EXCLUDED.run_id, recorded_at = now()",
        (pipeline, fingerprint.path, fingerprint.size, fingerprint.mtime_ns, fingerprint.content_hash, rows, run_id),
    )


def add_to_row_count(conn: psycopg.Connection, pipeline: str, table_name: str, added: int, count_table) -> int:
    """Keep the table's row count without counting it each run; `count_table()` gives the first value."""
    row = conn.execute(
        "SELECT row_count, table_name FROM elt.table_counts WHERE pipeline = %s FOR UPDATE", (pipeline,)
    ).fetchone()
    total = count_table() if row is None or row[1] != table_name else row[0] + added
    conn.execute(
        "INSERT INTO elt.table_counts (pipeline, table_name, row_count) VALUES (%s, %s, %s) "
        "ON CONFLICT (pipeline) DO UPDATE SET table_name = EXCLUDED.table_name, row_count = EXCLUDED.row_count, "
        "updated_at = now()",
        (pipeline, table_name, total),
    )
    return total


def stored_cursors(conn: psycopg.Connection, pipeline: str) -> dict[str, str]:
    """source (URL without credentials) -> the highest incremental cursor value loaded so far."""
    rows = conn.execute("SELECT source, cursor_value FROM elt.api_cursors WHERE pipeline = %s", (pipeline,)).fetchall()
    return dict(rows)


def record_cursor(conn: psycopg.Connection, pipeline: str, source: str, value: str, run_id: str) -> None:
    """Remember an API source's cursor (call inside the load's transaction, so it moves only with the rows)."""
    conn.execute(
        "INSERT INTO elt.api_cursors (pipeline, source, cursor_value, run_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (pipeline, source) DO UPDATE SET cursor_value = EXCLUDED.cursor_value, run_id = EXCLUDED.run_id, "
        "recorded_at = now()",
        (pipeline, source, value, run_id),
    )
