"""Deleting keys in a merge or scd2 load: keys a source row flags (`target.delete_column`), and keys absent from
a snapshot source, under a guard.

How a key is deleted, by mode and `target.delete`:

| mode  | soft (default)                                   | hard                          |
|-------|--------------------------------------------------|-------------------------------|
| merge | the row stays, `_elt_deleted_at` set             | the row is removed            |
| scd2  | the current version closed, `_elt_deleted_at` set | the current version closed    |

A flagged row deletes its key only where it is its key's winner (the latest `order_by`, then the last read), and
only a key the table holds live (a flag for an unknown key changes nothing). A snapshot's absent keys are the
table's live keys that no row read this run has, less those with a record waiting in quarantine (matched by the
key's text): a rejected row is not a deletion. Past `target.max_deleted` of the table's live keys, a snapshot's
deletes stop the run (the transaction rolls back: nothing is loaded) unless the run allows them.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from elt_dagster.engine.config import Target
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.keyed_tables import live_rows
from elt_dagster.engine.load.merge_sql import same_key
from elt_dagster.engine.load.tables import table_ident
from elt_dagster.engine.names import (
    DELETED_AT_COLUMN,
    LOADED_AT_COLUMN,
    REJECTED_SUFFIX,
    RUN_ID_COLUMN,
    VALID_FROM_COLUMN,
    VALID_TO_COLUMN,
    qualified_name,
)
from elt_dagster.engine.reject_limit import over_limit

TRUE_FLAGS = ("true", "t", "1", "yes", "y")
"""The values of a delete column (as text, lower case, trimmed) that delete their row's key."""


def flagged(column: str, alias: str) -> sql.Composable:
    """Whether the row `alias` has a true value in the delete column `column` (any type, read as text)."""
    return sql.SQL("lower(btrim({}::text)) IN ({})").format(
        sql.Identifier(alias, column), sql.SQL(", ").join(map(sql.Literal, TRUE_FLAGS))
    )


class KeyDeletes:
    """The deletes of one load of `target` (keys `keys`, winners ordered by `order`, the delete column `flag`)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        target: Target,
        keys: list[str],
        order: str | None,
        flag: str | None,
        run_id: str,
    ):
        self.conn, self.target, self.keys, self.order, self.flag, self.run_id = conn, target, keys, order, flag, run_id
        self.table = table_ident(target)

    def unflagged(self, winners: sql.Composable) -> sql.Composable:
        """The winners that delete nothing (all of them without a delete column), as a subquery."""
        if not self.flag:
            return winners
        return sql.SQL("(SELECT * FROM {} AS w WHERE NOT coalesce({}, false))").format(winners, flagged(self.flag, "w"))

    def delete_flagged(self, winners: sql.Composable) -> int:
        """Delete the live keys whose winner is flagged; returns how many."""
        if not self.flag:
            return 0
        when = sql.SQL("{same} AND {flagged}{newer}").format(
            same=same_key(self.keys, "t", "w"), flagged=flagged(self.flag, "w"), newer=self._not_older("w")
        )
        return self._delete(when, self._valid_to("w"), sql.SQL("{} AS w").format(winners))

    def delete_absent(self, read: list[sql.Composable], allowed: bool) -> int:
        """Delete the live keys that no row of `read` (the tables of the rows read) has, nor a record waiting in
        quarantine; past `max_deleted` of the live keys, raise (unless `allowed`). Returns how many."""
        for table in read:  # their sizes, for a hash anti-join rather than a loop (see MergeStrategy.write_winners)
            self.conn.execute(sql.SQL("ANALYZE {}").format(table))
        absent = [
            sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS r WHERE {})").format(table, same_key(self.keys, "t", "r"))
            for table in read
        ]
        waiting = sql.SQL(" AND ").join(
            sql.SQL("btrim(q.raw_record ->> {}) = t.{}::text").format(sql.Literal(key), sql.Identifier(key))
            for key in self.keys
        )
        quarantine = table_ident(self.target, REJECTED_SUFFIX)
        absent.append(sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS q WHERE {})").format(quarantine, waiting))
        deleted = self._delete(sql.SQL(" AND ").join(absent), sql.SQL("now()"))
        if deleted and not allowed:
            self._guard(deleted)
        return deleted

    def _delete(self, where: sql.Composable, valid_to: sql.Composable, using: sql.Composable | None = None) -> int:
        """Delete the live rows `t` that `where` picks (joined with `using`, when given); returns how many."""
        live = live_rows(self.target, "t")
        where = sql.SQL(" AND ").join([where, live]) if live else where
        parts = {"t": self.table, "where": where, "run": sql.Literal(self.run_id)}
        if self.target.mode != "scd2" and not self.target.soft_deletes:  # merge, hard: the rows go
            joined = sql.SQL(" USING {}").format(using) if using else sql.SQL("")
            return self.conn.execute(
                sql.SQL("DELETE FROM {t} AS t{j} WHERE {where}").format(**parts, j=joined)
            ).rowcount
        marks = sql.SQL(f"{LOADED_AT_COLUMN} = now(), {RUN_ID_COLUMN} = {{run}}").format(**parts)
        if self.target.soft_deletes:
            marks = sql.SQL(f"{{}}, {DELETED_AT_COLUMN} = now()").format(marks)
        if self.target.mode == "scd2":
            marks = sql.SQL(f"{{}}, {VALID_TO_COLUMN} = {{}}").format(marks, valid_to)
        joined = sql.SQL(" FROM {}").format(using) if using else sql.SQL("")
        query = sql.SQL("UPDATE {t} AS t SET {marks}{j} WHERE {where}").format(**parts, marks=marks, j=joined)
        return self.conn.execute(query).rowcount

    def _valid_to(self, alias: str) -> sql.Composable:
        """When a deleted version stops holding: the flagged row's `order_by` time, else the load's."""
        if self.order and self.target.mode == "scd2":
            return sql.SQL("coalesce({}::timestamptz, now())").format(sql.Identifier(alias, self.order))
        return sql.SQL("now()")

    def _not_older(self, alias: str) -> sql.Composable:
        """A stored row with a later `order_by` than the flag stays (as a stored row beats an older winner)."""
        if not self.order:
            return sql.SQL("")
        if self.target.mode == "scd2":
            return sql.SQL(" AND {} > t.{}").format(self._valid_to(alias), sql.Identifier(VALID_FROM_COLUMN))
        return sql.SQL(" AND (t.{o} IS NULL OR {a}.{o} >= t.{o})").format(
            o=sql.Identifier(self.order), a=sql.Identifier(alias)
        )

    def _guard(self, deleted: int) -> None:
        limit = self.target.max_deleted
        live = live_rows(self.target)
        where = sql.SQL(" WHERE {}").format(live) if live else sql.SQL("")
        remaining = self.conn.execute(sql.SQL("SELECT count(*) FROM {}{}").format(self.table, where)).fetchone()[0]
        before = remaining + deleted
        if over_limit(limit, deleted, remaining):
            raise PipelineError(
                f"the snapshot lacks {deleted:,} of the {before:,} keys of {qualified_name(self.target)} "
                f"({deleted * 100 / before:.3g}%), past target.max_deleted: {limit}: nothing was loaded. A truncated "
                "export? If the deletes are meant, run again with run config allow_deletes: true (or tag "
                "elt/allow_deletes=true), or raise target.max_deleted"
            )
