"""What every load strategy has: the table it loads, its counts, and the three steps of a load.

A strategy prepares each batch in the producer thread (away from the database), copies a source's batches inside
the source's savepoint, and finishes the load at the end of the run's transaction. It counts its own rows: a
source's rows count once its batches are all in (a source read again after a savepoint rolled back is counted
once). The planner (`planner.py`) picks one per load and says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import psycopg
import pyarrow as pa

from elt_dagster.engine.config import Target
from elt_dagster.engine.load.copy import CopyData
from elt_dagster.engine.names import HASH_COLUMN


@dataclass
class Prepared:
    """A batch ready to load: its rows (unique within the batch) and, when made in the producer, their COPY data
    and the columns it holds (when they vary from batch to batch)."""

    rows: pa.Table
    data: CopyData | None = None
    names: list[str] | None = None


@dataclass(frozen=True)
class LoadContext:
    """What every strategy is given: the open transaction, the table, its columns by their stored types, the run,
    and the run's largest source, whose `_elt_source` a column default holds where a strategy can set one (so its
    rows go without it)."""

    conn: psycopg.Connection
    target: Target
    types: dict[str, str]
    run_id: str
    default_source: str | None = None
    partition: str | None = None
    """The partition the rows belong to (`_elt_partition`), for a partitioned pipeline."""
    snapshot: bool = False
    """The rows are the table's full state (a snapshot source was read): keys absent from them are deleted."""
    allow_deletes: bool = False
    """The run allows a snapshot's deletes past `target.max_deleted`."""

    @property
    def names(self) -> list[str]:
        """The columns each row carries: the business columns, then the row hash."""
        return [*self.types, HASH_COLUMN]


class LoadStrategy:
    """One way of loading rows into the table; subclasses name themselves and implement the three steps."""

    name: ClassVar[str]
    prepare_in_threads: ClassVar[bool] = False
    """`prepare` keeps no state between batches, so batches may be prepared in threads at once (`workers`)."""

    def __init__(self, context: LoadContext, reason: str):
        self.context, self.reason = context, reason
        self.conn, self.target, self.types, self.run_id = context.conn, context.target, context.types, context.run_id
        self.names = context.names
        self.inserted = 0
        self.updated = 0
        self.deleted = 0
        """Rows or keys deleted: a partition's rows no longer in its files, keys flagged or absent from a snapshot."""
        self.flagged = 0
        """Rows read that deleted their key (`target.delete_column`): counted apart, as they write no row."""
        self.superseded = 0
        """Rows replaced by a later row of their key in this load, known after `finish` (merge mode)."""

    @classmethod
    def open(cls, context: LoadContext, reason: str) -> LoadStrategy:
        """Make the strategy, with whatever it needs to read first (a table's row hashes)."""
        return cls(context, reason)

    def prepare(self, rows: pa.Table, source: str | None) -> Prepared:
        """Work done in the producer thread, away from the database: dedup, filtering, encoding.

        `source`: the file the rows come from; None when they come from several (a group of small files), each
        row's in its `_elt_source` column.
        """
        raise NotImplementedError

    def load_file(self, source: str | None, batches: Iterable[Prepared]) -> None:
        """Load one file's batches, or a group of small files' (`source` None), inside the caller's savepoint."""
        self.inserted += self.copy_batches(source, batches)

    def copy_batches(self, source: str | None, batches: Iterable[Prepared]) -> int:
        """Copy the batches; the rows inserted so far (0 where only `finish` knows)."""
        raise NotImplementedError

    def finish(self) -> tuple[int, int]:
        """Complete the load; returns (inserted, updated) of the whole load."""
        return self.inserted, self.updated

    @property
    def added(self) -> int:
        """The rows the load added to the table (scd2: a changed key's new version too)."""
        return self.inserted

    @property
    def removed(self) -> int:
        """The rows `deleted` took out of the table (a soft delete or a closed version keeps its row)."""
        return self.deleted
