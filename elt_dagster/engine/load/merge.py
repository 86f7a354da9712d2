"""Merge: rows upserted on the primary key, the newest winning, through temporary tables. Three strategies.

Rows go into a stage; the winner of each key is picked (the latest `order_by`, then the last one read) and
written only if it differs from the stored row, by one `MERGE` (PostgreSQL 17 and later; before, an `UPDATE` and
an `INSERT`, two joins of the winners with the table: `merge_sql.py`). No `ON CONFLICT` (its speculative insertion
costs several times a plain write): writers of the table wait for this transaction (the planner locks it), so
nothing can slip in between.

- merge-new-table (`merge_new.py`): into a table this run created, the winners are inserted and the key's unique index is built
  once at the end (a merge table has none on the hash, see `create_indexes`).
- merge-in-producer (many rows in): the table's row hashes are fetched first (a merge table's rows are each its
  key's current row) and the rows identical to a stored one are told apart in the producer: only their key,
  `order_by` and position go to the database (a small `_elt_seen` table), since one of them may still be the
  latest row of its key and beat a changed row read before it.
- merge-in-database (a few rows into a big table): every row is staged and the winners identical to a stored row
  are left out by an anti-join on key and hash.

In the first two, when the key is one integer column, the keys read are kept (8 bytes each, up to
`MAX_TRACKED_KEYS`): if none was read twice, every staged row is its key's winner and is written as it is, without
picking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from elt_dagster.engine.config import delete_flag_column, key_columns, order_column
from elt_dagster.engine.load.base import LoadContext, LoadStrategy, Prepared
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import CopyData, copy_rows, set_row_defaults, with_lineage
from elt_dagster.engine.load.deletes import KeyDeletes
from elt_dagster.engine.load.hashset import HashSet, hash_words
from elt_dagster.engine.load.keyed_tables import live_rows
from elt_dagster.engine.load.merge_sql import later_row, same_key, superseded_rows, write_winners
from elt_dagster.engine.load.tables import create_stage, names_sql, table_ident
from elt_dagster.engine.names import (
    DELETED_AT_COLUMN,
    HASH_COLUMN,
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


class MergeStrategy(LoadStrategy):
    """What the merge strategies share: the stage, each row's position, the winners' query; see the module
    docstring. `default_source` (the context's) is the `_elt_source` the stage gives rows that don't carry one."""

    def __init__(self, context: LoadContext, reason: str):
        super().__init__(context, reason)
        self.business = list(self.types)
        self.keys = key_columns(self.target, self.business)
        self.order = order_column(self.target, self.business)
        self.written = [*self.names, SOURCE_COLUMN, RUN_ID_COLUMN]
        self.read = 0  # rows read so far: each row's position, `_elt_seq`, for "the last one read wins"
        self.default_source = context.default_source
        flag = delete_flag_column(self.target, self.business)
        self.deletes = KeyDeletes(self.conn, self.target, self.keys, self.order, flag, self.run_id)
        self.stage = create_stage(self.conn, self.target)
        set_row_defaults(self.conn, self.stage, self.default_source, self.run_id)  # once: DDL locks until the commit

    def prepare(self, rows: pa.Table, source: str | None) -> MergePrepared:
        positions = np.arange(self.read + 1, self.read + 1 + rows.num_rows, dtype=np.int64)
        self.read += rows.num_rows
        rows = rows.append_column(SEQ_COLUMN, pa.array(positions))
        rows, seen = self.split_seen(rows)
        if not rows.num_rows:
            return MergePrepared(rows, None, None, seen)
        staged = [*self.names, SEQ_COLUMN]
        if source is None or source != self.default_source:  # else the stage's default holds it
            staged_rows = with_lineage(rows, staged, source)
        else:
            staged_rows = rows.select(staged)
        return MergePrepared(rows, copy_data(staged_rows, self.staged_types), staged_rows.column_names, seen)

    @property
    def staged_types(self) -> dict[str, str]:
        return {**self.types, SEQ_COLUMN: BIGINT.name}

    def split_seen(self, rows: pa.Table) -> tuple[pa.Table, CopyData | None]:
        """The rows to stage, and the COPY data of those identical to a stored row (None: not told apart here)."""
        return rows, None

    def copy_batches(self, source: str | None, batches: Iterable[Prepared]) -> int:
        for prepared in batches:
            if prepared.data:
                copy_rows(self.conn, self.stage, prepared.names or [*self.names, SEQ_COLUMN], [prepared.data])
            if isinstance(prepared, MergePrepared) and prepared.seen:
                self.copy_seen(prepared.seen)
        return 0  # what is inserted is known at the end

    def copy_seen(self, seen: CopyData) -> None:
        raise NotImplementedError  # only a strategy that tells identical rows apart makes `seen` data

    def finish(self) -> tuple[int, int]:
        """Delete the keys a snapshot lacks, write the winners that differ from the stored rows (and delete the
        keys whose winner is flagged); returns (inserted, updated) and counts the rows that lost to a later row of
        their key (`superseded`)."""
        self.conn.execute("SET LOCAL work_mem = '256MB'")  # the sorts below in memory, for this transaction only
        if self.context.snapshot:  # before the writes: the guard's share is of the keys the table had
            self.deleted += self.deletes.delete_absent(self.read_tables(), self.context.allow_deletes)
        self.inserted, self.updated = self.write()
        self.superseded = self.count_superseded()
        return self.inserted, self.updated

    def write(self) -> tuple[int, int]:
        raise NotImplementedError

    def read_tables(self) -> list[sql.Composable]:
        """The tables that hold every row read (their keys, at least)."""
        return [self.stage]

    def version_columns(self, alias: str) -> dict[str, sql.Composable]:
        """Bookkeeping columns a written winner `alias` sets besides its own (scd2: when its version began)."""
        return {}

    def count_superseded(self) -> int:
        """The rows read that lost to a later row of their key (every row read is in the stage)."""
        return superseded_rows(self.conn, self.keys, [self.stage])

    @property
    def removed(self) -> int:
        return self.deleted if not self.target.soft_deletes else 0

    def write_winners(self, winners: sql.Composable) -> tuple[int, int]:
        """Delete the keys whose winner is flagged, then write the other winners (`write_versions`)."""
        if self.deletes.flag or self.target.mode == "scd2":
            # These join the winners with the table more than once: without their size the planner took 1 row and
            # looped over the winners for each of 50k stored rows (5 minutes instead of 50 ms)
            self.conn.execute(sql.SQL("ANALYZE {}").format(winners))
        flagged = self.deletes.delete_flagged(winners)
        self.deleted, self.flagged = self.deleted + flagged, self.flagged + flagged
        return self.write_versions(self.deletes.unflagged(winners))

    def write_versions(self, winners: sql.Composable) -> tuple[int, int]:
        """Write winners that delete nothing; returns (inserted, updated). A soft-deleted key read again lives."""
        cleared = (DELETED_AT_COLUMN,) if self.target.soft_deletes else ()
        table = table_ident(self.target)
        return write_winners(self.conn, table, self.keys, self.order, self.written, winners, cleared)

    def winners_query(self, left_out: list[sql.Composable]) -> sql.Composable:
        """A query of the winning row of each key (the latest `order_by`, then the last one read), but those for
        which a condition of `left_out` (on `s`, the winner) fails."""
        newest = sql.SQL("{} DESC NULLS LAST, ").format(sql.Identifier(self.order)) if self.order else sql.SQL("")
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(left_out) if left_out else sql.SQL("")
        return sql.SQL(
            "SELECT {names} FROM (SELECT DISTINCT ON ({keys}) {names}, {seq} "
            "FROM {stage} ORDER BY {keys}, {newest}{seq} DESC) AS s{where}"
        ).format(
            keys=names_sql(self.keys),
            names=names_sql(self.written),
            seq=sql.Identifier(SEQ_COLUMN),
            stage=self.stage,
            newest=newest,
            where=where,
        )


class MergeInDatabase(MergeStrategy):
    """A few rows into a big table: every row staged, the winners identical to a stored row left out by an
    anti-join on key and hash."""

    name = "merge-in-database"

    def write(self) -> tuple[int, int]:
        # Without its size the planner probes the table's index once per staged row (2.5x one hash anti-join)
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.stage))
        live = live_rows(self.target, "t")  # a closed version or a deleted key: a row like it is a change
        identical = sql.SQL("NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same} AND t.{hash} = s.{hash}{live})").format(
            t=table_ident(self.target),
            same=same_key(self.keys, "t", "s"),
            hash=sql.Identifier(HASH_COLUMN),
            live=sql.SQL(" AND {}").format(live) if live else sql.SQL(""),
        )
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(WINNERS, self.winners_query([identical]))
        )
        self.conn.execute(sql.SQL("ANALYZE {}").format(WINNERS))
        return self.write_winners(WINNERS)


class MergeInProducer(MergeStrategy):
    """Many rows in: the table's row hashes (`existing`) fetched first, rows identical to a stored one told apart
    in the producer. With the hashes, nothing joins the table while the winners are picked, and the plans were the
    same without `ANALYZE` of the stage and the winners (0.5-0.9 s of 8-9 s per 1M rows)."""

    name = "merge-in-producer"

    def __init__(self, context: LoadContext, reason: str, existing: HashSet):
        super().__init__(context, reason)
        self.existing = existing
        self.seen_names = [
            *self.keys,
            *([self.order] if self.order and self.order not in self.keys else []),
            SEQ_COLUMN,
        ]
        self.any_seen = False
        self.each_key_once = False
        # Every key read, when the key is one integer column: if none repeats, each staged row is its key's winner
        integer_key = len(self.keys) == 1 and _integer_key(self.types[self.keys[0]])
        self.keys_read: list[np.ndarray] | None = [] if integer_key else None
        if len(existing):
            self.conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {}, 0::bigint AS {} FROM {} WITH NO DATA"
                ).format(SEEN, names_sql(self.seen_names[:-1]), sql.Identifier(SEQ_COLUMN), table_ident(self.target))
            )

    @classmethod
    def open(cls, context: LoadContext, reason: str) -> MergeInProducer:
        return cls(context, reason, HashSet.fetch(context.conn, context.target))

    def split_seen(self, rows: pa.Table) -> tuple[pa.Table, CopyData | None]:
        self._track_keys(rows)
        if not len(self.existing) or not rows.num_rows:
            return rows, None
        same = self.existing.contains(hash_words(rows.column(HASH_COLUMN)))
        if not same.any():
            return rows, None
        seen = copy_data(rows.filter(pa.array(same)).select(self.seen_names), self.staged_types)
        return rows.filter(pa.array(~same)), seen

    def copy_seen(self, seen: CopyData) -> None:
        copy_rows(self.conn, SEEN, self.seen_names, [seen])
        self.any_seen = True

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

    def no_key_repeats(self) -> bool:
        """Whether every key was read once (known only for one integer key column, up to `MAX_TRACKED_KEYS`)."""
        if self.keys_read is None:
            return False
        keys = np.sort(np.concatenate(self.keys_read)) if self.keys_read else np.zeros(0, np.int64)
        return bool((keys[1:] != keys[:-1]).all())

    def read_tables(self) -> list[sql.Composable]:
        return [self.stage, *([SEEN] if self.any_seen else [])]

    def count_superseded(self) -> int:
        if self.each_key_once:
            return 0
        return superseded_rows(self.conn, self.keys, self.read_tables())

    def write(self) -> tuple[int, int]:
        self.each_key_once = self.no_key_repeats()
        if self.each_key_once:  # each staged row is its key's winner: nothing to pick
            return self.write_winners(self.stage)
        left_out = []
        if self.any_seen:  # a row identical to the stored one, read later (or with a later `order_by`), wins
            self.conn.execute(sql.SQL("ANALYZE {}").format(SEEN))
            left_out.append(
                sql.SQL("NOT EXISTS (SELECT 1 FROM {seen} AS x WHERE {same} AND {later})").format(
                    seen=SEEN, same=same_key(self.keys, "x", "s"), later=later_row(self.order, "x", "s")
                )
            )
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(WINNERS, self.winners_query(left_out))
        )
        return self.write_winners(WINNERS)


def _integer_key(type_name: str) -> bool:
    """Whether a key column of the table's type `type_name` is kept as int64 numbers ("other" is not)."""
    column_type = TYPES.get(type_name)
    return column_type is not None and column_type.integer_key
