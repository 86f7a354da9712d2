"""API cursors: the highest incremental cursor value loaded per API source, moved with the rows it came with."""

from __future__ import annotations

import psycopg


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
