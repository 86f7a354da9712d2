"""What a table's mode adds to it: scd2's validity columns and current-rows view, soft deletes' marker column,
and which of its rows are live (a key's current, undeleted row).

An scd2 table holds every version of each key: `_elt_valid_from` (when the version began to hold) and
`_elt_valid_to` (when it stopped; NULL for the current version), one current version per key (a partial unique
index), and the view `<table>_current` of the current versions. A table with soft deletes has `_elt_deleted_at`.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from elt_dagster.engine.config import Target
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import (
    CURRENT_VIEW_SUFFIX,
    DELETED_AT_COLUMN,
    VALID_FROM_COLUMN,
    VALID_TO_COLUMN,
    qualified_name,
)
from elt_dagster.engine.types import TIMESTAMPTZ

MOMENT = TIMESTAMPTZ.pg_type
"""The type of the validity and deletion times."""


def mode_columns(target: Target) -> dict[str, str]:
    """The bookkeeping columns the target's mode and deletes add, with their SQL types."""
    columns = {}
    if target.mode == "scd2":
        columns[VALID_FROM_COLUMN] = f"{MOMENT} NOT NULL DEFAULT now()"
        columns[VALID_TO_COLUMN] = MOMENT
    if target.soft_deletes:
        columns[DELETED_AT_COLUMN] = MOMENT
    return columns


def check_mode(target: Target, stored: dict[str, str]) -> None:
    """A table keeps its history (scd2) or not, always: its rows and its key's index differ."""
    if (VALID_FROM_COLUMN in stored) != (target.mode == "scd2"):
        kept = "keeps every version of a key" if VALID_FROM_COLUMN in stored else "keeps one row per key or appends"
        raise PipelineError(
            f"table {qualified_name(target)} {kept} and this pipeline's mode is {target.mode}: load into another "
            "table (target.table), or drop this one to load it again"
        )


def live_rows(target: Target, alias: str | None = None) -> sql.Composable | None:
    """The condition a row of the table meets when it is its key's live row: the current version (scd2) and not
    soft-deleted; None when every row is."""

    def column(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    conditions = []
    if target.mode == "scd2":
        conditions.append(sql.SQL("{} IS NULL").format(column(VALID_TO_COLUMN)))
    if target.soft_deletes:
        conditions.append(sql.SQL("{} IS NULL").format(column(DELETED_AT_COLUMN)))
    return sql.SQL(" AND ").join(conditions) if conditions else None


def current_view_ident(target: Target) -> sql.Identifier:
    return sql.Identifier(target.db_schema, target.table + CURRENT_VIEW_SUFFIX)


def drop_current_view(conn: psycopg.Connection, target: Target) -> None:
    """Drop `<table>_current` before a column's type changes (PostgreSQL refuses to alter a column a view uses)."""
    if target.mode == "scd2":
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(current_view_ident(target)))


def ensure_current_view(conn: psycopg.Connection, target: Target, stored: dict[str, str]) -> None:
    """`<table>_current`, the current versions of an scd2 table, with every column of the table (made again when
    the table has new columns; only then, as it locks the view)."""
    if target.mode != "scd2":
        return
    view = current_view_ident(target)
    kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", (view.as_string(conn),)).fetchone()
    if kind and kind[0] != "v":
        raise PipelineError(
            f"{qualified_name(target, CURRENT_VIEW_SUFFIX)} exists and is not a view: an scd2 table's current rows "
            "are shown by a view of that name; rename that table, or load into another (target.table)"
        )
    if kind:
        shown = conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (view.as_string(conn),),
        ).fetchone()[0]
        if shown == len(stored):
            return
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT * FROM {} WHERE {} IS NULL").format(
            view, sql.Identifier(target.db_schema, target.table), sql.Identifier(VALID_TO_COLUMN)
        )
    )
