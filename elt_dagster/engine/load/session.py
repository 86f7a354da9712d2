"""One load into a pipeline's table, the same for a run and a replay.

Inside the caller's transaction: the table ensured (created, or new columns added), the strategy chosen by the
planner, each source's rows validated and copied in its savepoint, then the strategy finished, the rejects settled
(into quarantine, by default) and the table's row counter moved. The session counts what it did (`LoadCounts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psycopg
import pyarrow as pa

from elt_dagster.engine.config import LoadedConfig, column_rules, key_columns, order_column
from elt_dagster.engine.load.base import LoadContext, Prepared
from elt_dagster.engine.load.planner import open_strategy
from elt_dagster.engine.load.quarantine import quarantine
from elt_dagster.engine.load.tables import count_rows, ensure_tables, stored_types
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.prefetch import ordered_map, prefetch
from elt_dagster.engine.small_files import FileGroup, GroupReader
from elt_dagster.engine.sources.files.columns import ColumnMapper
from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.state.counts import add_to_row_count
from elt_dagster.engine.state.fingerprints import Fingerprint
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import CheckedBatch

Batches = Iterator[tuple[pa.Table, int]]
"""A source's conformed batches, each with its count of malformed rows."""
T = TypeVar("T")


@dataclass
class LoadCounts:
    """What one load did to its table."""

    strategy: str = "none"
    strategy_reason: str = ""
    added_columns: tuple[str, ...] = ()
    rows_valid: int = 0
    invalid: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    """Rows removed (a replaced partition's rows no longer in its files) or keys deleted (flagged, or absent from a
    snapshot)."""
    flagged: int = 0
    """Valid rows that deleted their key (`target.delete_column`)."""
    superseded: int = 0
    """Valid rows replaced by a later row of their key in the same load (merge mode)."""
    row_count: int = 0


class LoadSession:
    """One load of validated rows into `loaded`'s table; see the module docstring.

    `column_types`: the run's columns and their types; `incoming_bytes`: roughly what comes in (for the planner);
    `default_source`: the largest source's label, which a column default can hold (see `LoadContext`);
    `partition`: the partition the rows belong to, in a partitioned pipeline, which the load replaces (with its
    quarantine records) or, with `replace` False (a replay), adds to. `snapshot`: the rows are the table's full
    state (keys absent from them are deleted, past `target.max_deleted` only with `allow_deletes`).
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        loaded: LoadedConfig,
        column_types: dict[str, str],
        run_id: str,
        staging: StagingWriter,
        incoming_bytes: int,
        default_source: str | None = None,
        partition: str | None = None,
        replace: bool = True,
        snapshot: bool = False,
        allow_deletes: bool = False,
    ):
        self.conn, self.loaded, self.run_id, self.staging = conn, loaded, run_id, staging
        self.partition, self.replace = partition, replace
        self.workers = loaded.config.worker_count
        self.target = target = loaded.config.target
        columns = list(column_types)
        added, self.created = ensure_tables(conn, target, column_types, partitioned=partition is not None)
        stored = stored_types(conn, target, columns)
        context = LoadContext(conn, target, stored, run_id, default_source, partition, snapshot, allow_deletes)
        self.strategy = open_strategy(context, incoming_bytes, self.created, replace)
        key = key_columns(target, columns) if target.keyed else []
        order_column(target, columns)  # a wrong order_by fails before a row is read
        self.checker = BatchChecker(column_types, key, staging, rules=column_rules(loaded))
        self.counts = LoadCounts(self.strategy.name, self.strategy.reason, added)

    def load_source(self, label: str, read: Callable[[Callable[[Batches], None]], T]) -> T:
        """Load one source: `read(copy)` passes its batches to `copy`, which validates them and copies the valid
        rows in a savepoint (again from scratch if `read` calls it twice). Returns what `read` returns."""

        def copy(batches: Batches) -> None:
            with self.conn.transaction():
                self.strategy.load_file(label, prefetch(self.prepared(batches, label)))

        result = read(copy)
        self.counts.rows_valid += self.checker.tally.valid
        self.counts.invalid += self.checker.tally.invalid
        return result

    def prepared(self, batches: Batches, label: str) -> Iterator[Prepared]:
        """Each batch validated, hashed and prepared by the strategy, in order; with `workers` above 1, several
        batches at once in threads (the strategy's `prepare` too where it keeps no state between batches)."""
        if self.workers <= 1:
            yield from (self.strategy.prepare(rows, label) for rows in self.checker.valid_rows(batches))
            return
        in_threads = self.strategy.prepare_in_threads

        def work(batch: tuple[pa.Table, int]) -> tuple[CheckedBatch, Prepared | None]:
            checked = self.checker.check(batch[0])
            return checked, self.strategy.prepare(checked.rows, label) if in_threads else None

        self.checker.start()
        for checked, prepared in ordered_map(work, batches, self.workers):
            rows = self.checker.account(checked)
            yield prepared if prepared is not None else self.strategy.prepare(rows, label)

    def group_reader(self, mapper: ColumnMapper, fingerprints: dict[str, Fingerprint]) -> GroupReader:
        """A reader of runs of small files into groups for `load_group` (see `small_files`)."""
        return GroupReader(mapper, self.staging, self.checker, self.strategy, fingerprints)

    def load_group(self, group: FileGroup) -> None:
        """Copy a group of small files' rows in one savepoint."""
        if group.prepared is not None:
            with self.conn.transaction():
                self.strategy.load_file(None, [group.prepared])
        self.counts.rows_valid += group.valid
        self.counts.invalid += group.invalid

    def finish(self, settle_rejects: Callable[[Path], None] | None = None) -> LoadCounts:
        """Settle the rejects file (by default: into the quarantine table), finish the strategy, move the row
        counter; returns the counts."""
        self.staging.flush()
        if settle_rejects is None:  # first: a snapshot's keys waiting in quarantine are not deleted
            replaced = self.partition if self.replace else None
            quarantine(self.conn, self.target, self.staging.rejects_path, self.run_id, self.partition, replaced)
        else:
            settle_rejects(self.staging.rejects_path)
        self.counts.inserted, self.counts.updated = self.strategy.finish()
        self.counts.deleted, self.counts.superseded = self.strategy.deleted, self.strategy.superseded
        self.counts.flagged = self.strategy.flagged
        self.counts.row_count = add_to_row_count(
            self.conn,
            qualified_name(self.target),
            self.strategy.added - self.strategy.removed,
            lambda: count_rows(self.conn, self.target),
            self.created,
        )
        return self.counts
