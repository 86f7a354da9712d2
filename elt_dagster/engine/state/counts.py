"""The target table's row count, kept by each load instead of counted each run.

One counter per table, whichever pipelines write to it: loads into one table take turns (see `planner.open_strategy`),
so each adds its rows to the count the previous load left.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg


def add_to_row_count(
    conn: psycopg.Connection, table_name: str, added: int, count_table: Callable[[], int], created: bool = False
) -> int:
    """Keep the table's row count without counting it each run; `count_table()` gives the first value. A table this
    run `created` holds just the rows it `added` (a counter left by a dropped table of that name is stale)."""
    row = conn.execute(
        "SELECT row_count FROM elt.table_row_counts WHERE table_name = %s FOR UPDATE", (table_name,)
    ).fetchone()
    if row is None and not created:
        return _store(conn, table_name, count_table())
    return _store(conn, table_name, added if created else row[0] + added)


def _store(conn: psycopg.Connection, table_name: str, total: int) -> int:
    conn.execute(
        "INSERT INTO elt.table_row_counts (table_name, row_count) VALUES (%s, %s) "
        "ON CONFLICT (table_name) DO UPDATE SET row_count = EXCLUDED.row_count, updated_at = now()",
        (table_name, total),
    )
    return total


def current_row_count(conn: psycopg.Connection, table_name: str) -> int:
    """The table's row count as the loads into it have kept it (0 before the first load)."""
    row = conn.execute("SELECT row_count FROM elt.table_row_counts WHERE table_name = %s", (table_name,)).fetchone()
    return row[0] if row else 0
