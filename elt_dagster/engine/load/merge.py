"""Merge: rows upserted on the primary key, the newest winning, through temporary tables.

Rows go into a stage; the winner of each key is picked (the latest `order_by`, then the last one read) and
written only if it differs from the stored row, by one `MERGE` (PostgreSQL 17 and later; before, an `UPDATE` and
an `INSERT`, two joins of the winners with the table). Into a table this run created, the winners are inserted and
the key's unique index is built once at the end (a merge table has none on the hash, see `create_indexes`).
No `ON CONFLICT` (its speculative insertion costs several times a plain write): writers of the table wait for this
transaction (`choose_loader` locks it), so nothing can slip in between.

When many rows come in, the table's row hashes are fetched first (a merge table's rows are each its key's
current row) and the rows identical to a stored one are told apart in the producer: only their key, `order_by`
and position go to the database (a small `_elt_seen` table), since one of them may still be the latest row of its
key and beat a changed row read before it. Otherwise every row is staged and the winners identical to a stored
row are left out by an anti-join on key and hash. When the key is one integer column, the keys read are kept (8
bytes each, up to `MAX_TRACKED_KEYS`): if none was read twice, every staged row is its key's winner and is written
as it is, without picking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from elt_dagster.engine.config import Target, key_columns, order_column
from elt_dagster.engine.load.base import Prepared
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import CopyData, copy_rows, set_row_defaults, with_lineage
from elt_dagster.engine.load.hashset import HashSet, hash_words
from elt_dagster.engine.load.tables import create_indexes, create_stage, drop_indexes, names_sql, table_ident
from elt_dagster.engine.names import (
    HASH_COLUMN,
    LOADED_AT_COLUMN,
    RUN_ID_COLUMN,
    SEEN_TABLE,
    SEQ_COLUMN,
    SOURCE_COLUMN,
    WINNERS_TABLE,
)
from elt_dagster.engine.types import BIGINT, TYPES

WINNERS = sql.Identifier(WINNERS_TABLE)
SEEN = sql.Identifier(SEEN_TABLE)
MAX_TRACKED_KEYS = 5_000_000
"""Integer keys kept (8 bytes each) to learn whether any repeats; past this many, the winners are picked anyway."""


@dataclass
class MergePrepared(Prepared):
    """A batch for the stage (`rows`, `data`), and its rows identical to a stored one, for `_elt_seen`."""

    seen: CopyData | None = None


class MergeLoader:
    """Upsert on the primary key through temporary tables; see the module docstring.

    `existing`: the table's row hashes (an empty set for a table this run created), or None to compare with the
    stored rows in the database. `default_source`: the `_elt_source` the stage gives rows that don't carry one.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        target: Target,
        types: dict[str, str],
        run_id: str,
        created: bool = False,
        existing: HashSet | None = None,
        default_source: str | None = None,
    ):
        self.conn, self.target, self.business, self.names = conn, target, list(types), [*types, HASH_COLUMN]
        self.types, self.run_id, self.created, self.existing = types, run_id, created, existing
        self.keys = key_columns(target, self.business)
        self.order = order_column(target, self.business)
        self.seen_names = [
            *self.keys,
            *([self.order] if self.order and self.order not in self.keys else []),
            SEQ_COLUMN,
        ]
        self.read = 0  # rows read so far: each row's position, `_elt_seq`, for "the last one read wins"
        self.default_source = default_source
        self.stage = create_stage(conn, target)
        set_row_defaults(conn, self.stage, default_source, run_id)  # once: DDL holds a lock until the commit
        self.any_seen = False
        # Every key read, when the key is one integer column: if none repeats, each staged row is its key's winner
        integer_key = len(self.keys) == 1 and _integer_key(types[self.keys[0]])
        self.keys_read: list[np.ndarray] | None = [] if integer_key and existing is not None else None
        if existing is not None and len(existing):
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}, 0::bigint AS {} FROM {} WITH NO DATA"
                ).format(SEEN, names_sql(self.seen_names[:-1]), sql.Identifier(SEQ_COLUMN), table_ident(target))
            )
        if created:  # nobody else sees the table yet: its indexes are built once, after the rows are in
            drop_indexes(conn, target)

    def prepare(self, rows: pa.Table, source: str | None) -> MergePrepared:
        positions = np.arange(self.read + 1, self.read + 1 + rows.num_rows, dtype=np.int64)
        self.read += rows.num_rows
        rows = rows.append_column(SEQ_COLUMN, pa.array(positions))
        self._track_keys(rows)
        types = {**self.types, SEQ_COLUMN: BIGINT.name}
        seen = None
        if self.existing is not None and len(self.existing) and rows.num_rows:
            same = self.existing.contains(hash_words(rows.column(HASH_COLUMN)))
            if same.any():
                seen = copy_data(rows.filter(pa.array(same)).select(self.seen_names), types)
                rows = rows.filter(pa.array(~same))
        if not rows.num_rows:
            return MergePrepared(rows, None, None, seen)
        staged = [*self.names, SEQ_COLUMN]
        if source is None or source != self.default_source:  # else the stage's default holds it
            staged_rows = with_lineage(rows, staged, source)
        else:
            staged_rows = rows.select(staged)
        return MergePrepared(rows, copy_data(staged_rows, types), staged_rows.column_names, seen)

    def _track_keys(self, rows: pa.Table) -> None:
        if self.keys_read is None or not rows.num_rows:
            return
        keys = rows.column(self.keys[0])
        if keys.null_count or self.read > MAX_TRACKED_KEYS:
            self.keys_read = None
            return
        try:
            self.keys_read.append(pc.cast(keys, pa.int64()).to_numpy())
        except pa.ArrowInvalid:  # not integer text (the schema retyped the key): PostgreSQL will say so, clearly
            self.keys_read = None

    def _no_key_repeats(self) -> bool:
        """Whether every key was read once (known only for one integer key column, up to `MAX_TRACKED_KEYS`)."""
        if self.keys_read is None:
            return False
        keys = np.sort(np.concatenate(self.keys_read)) if self.keys_read else np.zeros(0, np.int64)
        return bool((keys[1:] != keys[:-1]).all())

    def load_file(self, source: str | None, batches: Iterable[Prepared]) -> int:
        for prepared in batches:
            if prepared.data:
                copy_rows(self.conn, self.stage, prepared.names or [*self.names, SEQ_COLUMN], [prepared.data])
            if isinstance(prepared, MergePrepared) and prepared.seen:
                copy_rows(self.conn, SEEN, self.seen_names, [prepared.seen])
                self.any_seen = True
        return 0

    def finish(self, inserted: int) -> tuple[int, int]:
        """Write the winners that differ from the stored rows; returns (inserted, updated)."""
        names = [*self.names, SOURCE_COLUMN, RUN_ID_COLUMN]
        table = table_ident(self.target)
        self.conn.execute("SET LOCAL work_mem = '256MB'")  # the sorts below in memory, for this transaction only
        picked = not self._no_key_repeats()  # else each staged row is its key's winner: nothing to pick
        if self.created:  # no stored row: every winner is new, inserted as it is picked
            winners = (
                self._winners(names) if picked else sql.SQL("SELECT {} FROM {}").format(names_sql(names), self.stage)
            )
            added = self.conn.execute(
                sql.SQL("INSERT INTO {t} ({names}) {winners}").format(t=table, names=names_sql(names), winners=winners)
            ).rowcount
            create_indexes(self.conn, self.target, self.business)
            return added, 0
        if not picked:
            return self._write_winners(names, self.stage)
        self.conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(WINNERS, self._winners(names)))
        return self._write_winners(names, WINNERS)

    def _write_winners(self, names: list[str], winners: sql.Composable) -> tuple[int, int]:
        """Update the stored rows of the keys of the rows in table `winners` (unless a stored `order_by` is later),
        insert the others; returns (inserted, updated)."""
        table = table_ident(self.target)
        if self.existing is None:  # see `_winners`
            self.conn.execute(sql.SQL("ANALYZE {}").format(winners))
        same_key = _same_key(self.keys, "t", "w")
        newer = sql.SQL("")
        if self.order:  # a stored row with a later `order_by` stays
            newer = sql.SQL(" AND (t.{o} IS NULL OR w.{o} >= t.{o})").format(o=sql.Identifier(self.order))
        updates = sql.SQL(", ").join(
            sql.SQL("{n} = w.{n}").format(n=sql.Identifier(n)) for n in names if n not in self.keys
        )
        parts = {
            "t": table,
            "w": winners,
            "same": same_key,
            "newer": newer,
            "loaded_at": sql.Identifier(LOADED_AT_COLUMN),
            "updates": updates,
            "names": names_sql(names),
        }
        if merge_returns_actions(self.conn):  # one join of the winners with the table, for both writes
            added, updated = self.conn.execute(
                sql.SQL(
                    "WITH m AS (MERGE INTO {t} AS t USING {w} AS w ON {same} "
                    "WHEN MATCHED{newer} THEN UPDATE SET {updates}, {loaded_at} = now() "
                    "WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values}) RETURNING merge_action() AS action) "
                    "SELECT count(*) FILTER (WHERE action = 'INSERT'), count(*) FILTER (WHERE action = 'UPDATE') FROM m"
                ).format(**parts, values=sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(n)) for n in names))
            ).fetchone()
            return added, updated
        updated = self.conn.execute(
            sql.SQL("UPDATE {t} AS t SET {updates}, {loaded_at} = now() FROM {w} AS w WHERE {same}{newer}").format(
                **parts
            )
        ).rowcount
        added = self.conn.execute(
            sql.SQL(
                "INSERT INTO {t} ({names}) SELECT {names} FROM {w} AS w WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same})"
            ).format(**parts)
        ).rowcount
        return added, updated

    def _winners(self, names: list[str]) -> sql.Composable:
        """A query of the winning row of each key (the latest `order_by`, then the last one read), but the winners
        identical to a stored row: left out as they are picked, never written and deleted.

        Without the hashes fetched, the stage is analysed first: without its size the planner probes the table's
        index once per row (2.5x the time of one hash anti-join). With them, nothing joins the table here, and the
        plans were the same without the `ANALYZE`s of the stage and the winners (0.5-0.9 s of 8-9 s per 1M rows).
        """
        newest = sql.SQL("{} DESC NULLS LAST, ").format(sql.Identifier(self.order)) if self.order else sql.SQL("")
        left_out = []
        if self.existing is None:  # identical rows were not told apart in the producer
            self.conn.execute(sql.SQL("ANALYZE {}").format(self.stage))
            left_out.append(
                sql.SQL("NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same} AND t.{hash} = s.{hash})").format(
                    t=table_ident(self.target), same=_same_key(self.keys, "t", "s"), hash=sql.Identifier(HASH_COLUMN)
                )
            )
        if self.any_seen:  # a row identical to the stored one, read later (or with a later `order_by`), wins
            self.conn.execute(sql.SQL("ANALYZE {}").format(SEEN))
            left_out.append(
                sql.SQL("NOT EXISTS (SELECT 1 FROM {seen} AS x WHERE {same} AND {later})").format(
                    seen=SEEN, same=_same_key(self.keys, "x", "s"), later=self._later("x", "s")
                )
            )
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(left_out) if left_out else sql.SQL("")
        return sql.SQL(
            "SELECT {names} FROM (SELECT DISTINCT ON ({keys}) {names}, {seq} "
            "FROM {stage} ORDER BY {keys}, {newest}{seq} DESC) AS s{where}"
        ).format(
            keys=names_sql(self.keys),
            names=names_sql(names),
            seq=sql.Identifier(SEQ_COLUMN),
            stage=self.stage,
            newest=newest,
            where=where,
        )

    def _later(self, a: str, b: str) -> sql.Composable:
        """Whether row `a` comes after row `b` of the same key in the winners' order (NULL `order_by` first)."""
        seq = sql.SQL("{a}.{s} > {b}.{s}").format(
            a=sql.Identifier(a), b=sql.Identifier(b), s=sql.Identifier(SEQ_COLUMN)
        )
        if not self.order:
            return seq
        return sql.SQL(
            "({a}.{o} > {b}.{o} OR ({a}.{o} IS NOT NULL AND {b}.{o} IS NULL) OR ({a}.{o} IS NOT DISTINCT FROM {b}.{o} AND {seq}))"
        ).format(a=sql.Identifier(a), b=sql.Identifier(b), o=sql.Identifier(self.order), seq=seq)


def merge_returns_actions(conn: psycopg.Connection) -> bool:
    """Whether the server has `MERGE ... RETURNING merge_action()` (PostgreSQL 17 and later)."""
    return conn.info.server_version >= 170000


def _same_key(keys: list[str], left: str, right: str) -> sql.Composable:
    """`left.k1 = right.k1 AND ...`: rows `left` and `right` have the same key."""
    return sql.SQL(" AND ").join(
        sql.SQL("{l}.{k} = {r}.{k}").format(k=sql.Identifier(k), l=sql.Identifier(left), r=sql.Identifier(right))
        for k in keys
    )


def _integer_key(type_name: str) -> bool:
    """Whether a key column of the table's type `type_name` is kept as int64 numbers ("other" is not)."""
    column_type = TYPES.get(type_name)
    return column_type is not None and column_type.integer_key
