"""The bookkeeping tables in each target database (schema `elt`): file fingerprints, API cursors, the partitions
files were put in (`by: files`), row counts."""

from __future__ import annotations

import psycopg

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
CREATE TABLE IF NOT EXISTS elt.partition_files (
    pipeline text NOT NULL,
    path text NOT NULL,
    partition_key text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, path)
);
CREATE INDEX IF NOT EXISTS partition_files_by_key ON elt.partition_files (pipeline, partition_key);
CREATE TABLE IF NOT EXISTS elt.table_row_counts (
    table_name text PRIMARY KEY,
    row_count bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


def ensure_state_tables(conn: psycopg.Connection) -> None:
    """Create the bookkeeping schema and tables if missing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.state_ddl'))")
        conn.execute(_DDL)
