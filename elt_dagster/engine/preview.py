"""A target table's row count, quarantined count and first rows: what `elt-dagster preview` and the
`<name>_preview` job show, read without loading."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from elt_dagster.engine.config import Target
from elt_dagster.engine.load.tables import count_rows, preview, table_exists, table_ident
from elt_dagster.engine.names import HASH_COLUMN, REJECTED_SUFFIX, RUN_ID_COLUMN

HIDDEN_COLUMNS = frozenset({HASH_COLUMN, RUN_ID_COLUMN})
"""Bookkeeping columns a preview for people leaves out: they say nothing about the data."""


@dataclass(frozen=True)
class TablePreview:
    """The target table's row count, its quarantine's row count (0 without one), and its first rows."""

    total: int
    rejected: int
    names: list[str]
    rows: list[tuple]

    def without_bookkeeping(self) -> TablePreview:
        """The same preview without the row hash and run id columns."""
        shown = [i for i, name in enumerate(self.names) if name not in HIDDEN_COLUMNS]
        rows = [tuple(row[i] for i in shown) for row in self.rows]
        return TablePreview(self.total, self.rejected, [self.names[i] for i in shown], rows)


def preview_table(conn: psycopg.Connection, target: Target, limit: int) -> TablePreview | None:
    """The target table's counts and first `limit` rows; None when the table does not exist yet."""
    if not table_exists(conn, target):
        return None
    names, rows = preview(conn, target, limit)
    return TablePreview(count_rows(conn, target), _rejected(conn, target), names, rows)


def _rejected(conn: psycopg.Connection, target: Target) -> int:
    rejects = table_ident(target, REJECTED_SUFFIX)
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (rejects.as_string(conn),)).fetchone()[0]:
        return 0
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(rejects)).fetchone()[0]
