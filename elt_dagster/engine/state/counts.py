"""The target table's row count, kept by each load instead of counted each run."""

from __future__ import annotations

from collections.abc import Callable

import psycopg


def add_to_row_count(
    conn: psycopg.Connection, pipeline: str, table_name: str, added: int, count_table: Callable[[], int]
) -> int:
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


def current_row_count(conn: psycopg.Connection, pipeline: str) -> int:
    """The target table's row count as the pipeline's loads have kept it (0 before the first load)."""
    row = conn.execute("SELECT row_count FROM elt.table_counts WHERE pipeline = %s", (pipeline,)).fetchone()
    return row[0] if row else 0
