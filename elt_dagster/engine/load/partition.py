"""The strategies of a partitioned table: rows added to one partition, or a partition replaced as a whole.

A partitioned table's unique index is on (`_elt_partition`, `_elt_row_hash`): a row is kept once per partition,
and loads of different partitions never meet in it, so they run side by side (no table lock; one load per
partition at a time, see `locks.lock_pipeline`). Readers never wait: rows are only inserted and deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
import pyarrow as pa
from psycopg import sql

from elt_dagster.engine.load.append import insert_through_stage
from elt_dagster.engine.load.base import LoadContext, LoadStrategy, Prepared
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import constant_column, copy_rows, with_lineage
from elt_dagster.engine.load.hashset import first_occurrences
from elt_dagster.engine.load.tables import create_stage, names_sql, table_ident
from elt_dagster.engine.names import HASH_COLUMN, PARTITION_COLUMN, RUN_ID_COLUMN, SEQ_COLUMN, SOURCE_COLUMN


class PartitionAppend(LoadStrategy):
    """Rows added to one partition: each batch's rows copied straight in, sorted by hash; a batch that meets a row
    the partition has already goes through a stage with `ON CONFLICT DO NOTHING`."""

    name = "partition-append"
    prepare_in_threads = True

    def __init__(self, context: LoadContext, reason: str):
        super().__init__(context, reason)
        if context.partition is None:
            raise ValueError("a partition strategy needs the partition")  # never expected: the planner gives it
        self.partition: str = context.partition
        self.written = [*self.names, SOURCE_COLUMN, RUN_ID_COLUMN, PARTITION_COLUMN]

    def prepare(self, rows: pa.Table, source: str | None) -> Prepared:
        unique = first_occurrences(rows)
        if not unique.num_rows:
            return Prepared(unique)
        unique = unique.sort_by(HASH_COLUMN)  # neighbouring index pages, a batch at a time
        columns = with_lineage(unique, self.names, source, self.run_id)
        columns = columns.append_column(PARTITION_COLUMN, constant_column(self.partition, unique.num_rows))
        return Prepared(unique, copy_data(columns, self.types), self.written)

    def copy_batches(self, source: str | None, batches: Iterable[Prepared]) -> int:
        return sum(self.copy_batch(prepared) for prepared in batches)

    def copy_batch(self, prepared: Prepared) -> int:
        if prepared.data is None:
            return 0
        try:
            with self.conn.transaction():
                copy_rows(self.conn, table_ident(self.target), self.written, [prepared.data])
            return prepared.rows.num_rows
        except psycopg.errors.UniqueViolation:  # a row the partition has (an earlier batch's, or an earlier load's)
            unique = f"{PARTITION_COLUMN}, {HASH_COLUMN}"
            return insert_through_stage(self.conn, self.target, self.written, prepared.data, unique)


class PartitionReplace(PartitionAppend):
    """A partition replaced by this load's rows: they go to a stage; at the end the partition's rows not among them
    are deleted and the staged rows it lacks inserted, in the load's transaction, so readers see the old partition
    or the new one, and unchanged rows stay as they are."""

    name = "partition-replace"

    def __init__(self, context: LoadContext, reason: str):
        super().__init__(context, reason)
        self.stage = create_stage(self.conn, self.target)

    def copy_batch(self, prepared: Prepared) -> int:
        if prepared.data is not None:
            copy_rows(self.conn, self.stage, self.written, [prepared.data])
        return 0  # what is inserted is known at the end

    def finish(self) -> tuple[int, int]:
        table, partition = table_ident(self.target), self.partition
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.stage))  # its size: a hash anti-join, not a probe a row
        self.deleted = self.conn.execute(
            sql.SQL(
                f"DELETE FROM {{t}} AS t WHERE t.{PARTITION_COLUMN} = %s AND NOT EXISTS "
                f"(SELECT 1 FROM {{s}} AS s WHERE s.{HASH_COLUMN} = t.{HASH_COLUMN})"
            ).format(t=table, s=self.stage),
            (partition,),
        ).rowcount
        names = names_sql(self.written)
        self.inserted = self.conn.execute(
            sql.SQL(
                f"INSERT INTO {{t}} ({{n}}) SELECT DISTINCT ON ({HASH_COLUMN}) {{n}} FROM {{s}} AS s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {{t}} AS t WHERE t.{PARTITION_COLUMN} = %s AND t.{HASH_COLUMN} = s.{HASH_COLUMN}) "
                f"ORDER BY {HASH_COLUMN}, {SEQ_COLUMN}"
            ).format(t=table, n=names, s=self.stage),
            (partition,),
        ).rowcount
        return self.inserted, 0
