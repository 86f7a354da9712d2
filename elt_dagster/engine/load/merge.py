"""Merge: rows upserted on the primary key, the newest winning, through temporary tables.

All rows are copied into a stage; the winner of each key is picked (the last row, or the latest `order_by`),
leaving out the winners identical to a stored row (same hash, one anti-join), so only changed and new rows are
written: changed ones by one `UPDATE`, new ones by one `INSERT` (into a table this run created, the key's
unique index is built once at the end; a merge table has none on the hash, see `create_indexes`). No `ON CONFLICT` (its speculative
insertion costs several times a plain write): writers of the table wait for this transaction (`choose_loader`
locks it), so nothing can slip in between.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
import pyarrow as pa
from psycopg import sql

from elt_dagster.engine.config import Target, key_columns, order_column
from elt_dagster.engine.load.base import Prepared
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import copy_rows, set_row_defaults
from elt_dagster.engine.load.tables import create_indexes, create_stage, drop_indexes, names_sql, table_ident
from elt_dagster.engine.transform.validate import HASH_COLUMN

WINNERS = sql.Identifier("_elt_winners")


class MergeLoader:
    """Upsert on the primary key through temporary tables; see the module docstring."""

    def __init__(
        self, conn: psycopg.Connection, target: Target, types: dict[str, str], run_id: str, created: bool = False
    ):
        self.conn, self.target, self.business, self.names = conn, target, list(types), [*types, HASH_COLUMN]
        self.types, self.run_id, self.created = types, run_id, created
        self.stage = create_stage(conn, target)
        if created:  # nobody else sees the table yet: its indexes are built once, after the rows are in
            drop_indexes(conn, target)

    def prepare(self, rows: pa.Table, source: str) -> Prepared:
        return Prepared(rows, copy_data(rows.select(self.names), self.types) if rows.num_rows else None)

    def load_file(self, source: str, batches: Iterable[Prepared]) -> int:
        set_row_defaults(self.conn, self.stage, source, self.run_id)
        copy_rows(self.conn, self.stage, self.names, (p.data for p in batches if p.data))
        return 0

    def finish(self, inserted: int) -> tuple[int, int]:
        """Write the winners that differ from the stored rows; returns (inserted, updated)."""
        keys = key_columns(self.target, self.business)
        order = order_column(self.target, self.business)
        names = [*self.names, "_elt_source", "_elt_run_id"]
        table = table_ident(self.target)
        self.conn.execute("SET LOCAL work_mem = '256MB'")  # the sorts below in memory, for this transaction only
        self._pick_winners(keys, order, names)
        self.conn.execute(sql.SQL("ANALYZE {}").format(WINNERS))
        same_key = _same_key(keys, "w")
        newer = sql.SQL("")
        if order:  # a stored row with a later `order_by` stays
            newer = sql.SQL(" AND (t.{o} IS NULL OR w.{o} >= t.{o})").format(o=sql.Identifier(order))
        updates = sql.SQL(", ").join(sql.SQL("{n} = w.{n}").format(n=sql.Identifier(n)) for n in names if n not in keys)
        updated = self.conn.execute(
            sql.SQL("UPDATE {t} AS t SET {updates}, _elt_loaded_at = now() FROM {w} AS w WHERE {same}{newer}").format(
                t=table, updates=updates, w=WINNERS, same=same_key, newer=newer
            )
        ).rowcount
        added = self.conn.execute(
            sql.SQL(
                "INSERT INTO {t} ({names}) SELECT {names} FROM {w} AS w "
                "WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same}) ORDER BY _elt_row_hash"
            ).format(t=table, names=names_sql(names), w=WINNERS, same=same_key)
        ).rowcount
        if self.created:
            create_indexes(self.conn, self.target, self.business)
        return added, updated

    def _pick_winners(self, keys: list[str], order: str | None, names: list[str]) -> None:
        """The winning row of each key into a temporary table (the latest `order_by`, then the last one read), but
        the winners identical to a stored row: left out as they are picked, never written and deleted.

        The stage is analysed first: without its size the planner probes the table's index once per row (2.5x the
        time of one hash anti-join).
        """
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.stage))
        newest = sql.SQL("{} DESC NULLS LAST, ").format(sql.Identifier(order)) if order else sql.SQL("")
        self.conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE {w} ON COMMIT DROP AS SELECT * FROM (SELECT DISTINCT ON ({keys}) {names} "
                "FROM {stage} ORDER BY {keys}, {newest}_elt_seq DESC) AS s "
                "WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same} AND t._elt_row_hash = s._elt_row_hash)"
            ).format(
                same=_same_key(keys, "s"),
                w=WINNERS,
                keys=names_sql(keys),
                names=names_sql(names),
                stage=self.stage,
                newest=newest,
                t=table_ident(self.target),
            )
        )


def _same_key(keys: list[str], alias: str) -> sql.Composable:
    """`t.k1 = <alias>.k1 AND ...`: the stored row (`t`) of the same key as the row `alias` names."""
    return sql.SQL(" AND ").join(
        sql.SQL("t.{k} = {a}.{k}").format(k=sql.Identifier(k), a=sql.Identifier(alias)) for k in keys
    )
