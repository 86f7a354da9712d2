"""engine/preview.py: a target table's counts and first rows, what `elt-dagster preview` and the preview job show."""

from __future__ import annotations

import psycopg

from elt_dagster.engine.config import Target
from elt_dagster.engine.preview import preview_table


def test_a_table_not_created_yet_has_no_preview(database_url: str, db_schema: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert preview_table(conn, Target(table="t", db_schema=db_schema), 10) is None


def test_counts_first_rows_and_the_bookkeeping_columns_left_out(database_url: str, db_schema: str) -> None:
    target = Target(table="t", db_schema=db_schema)
    with psycopg.connect(database_url) as conn:
        conn.execute(f'CREATE SCHEMA "{db_schema}"')
        conn.execute(f'CREATE TABLE "{db_schema}".t (id int, _elt_row_hash bytea, name text, _elt_run_id text)')
        conn.execute(f"INSERT INTO \"{db_schema}\".t SELECT i, '\\x00', 'n' || i, 'r' FROM generate_series(1, 5) i")
        no_quarantine = preview_table(conn, target, 2)
        conn.execute(f'CREATE TABLE "{db_schema}".t__rejected (line int)')
        conn.execute(f'INSERT INTO "{db_schema}".t__rejected VALUES (1), (2), (3)')
        shown = preview_table(conn, target, 2)
    assert no_quarantine is not None and (no_quarantine.total, no_quarantine.rejected) == (5, 0)
    assert shown is not None and (shown.total, shown.rejected, len(shown.rows)) == (5, 3, 2)
    assert shown.names == ["id", "_elt_row_hash", "name", "_elt_run_id"]
    people = shown.without_bookkeeping()
    assert people.names == ["id", "name"] and [row[1] for row in people.rows] == ["n1", "n2"]
    assert (people.total, people.rejected) == (5, 3)
