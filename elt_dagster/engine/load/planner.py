"""The planner: which strategy loads this run's rows into the table, and why.

`choose_strategy` is a pure decision on a few facts (is the table new, the mode, its size, what comes in);
`open_strategy` locks the table, gathers the facts, and makes the chosen strategy. None of the strategies takes a
lock that stops readers of a table that existed before the run (the final commit aside).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from elt_dagster.engine.load.append import HashsetAppend, ProbeAppend
from elt_dagster.engine.load.base import LoadContext, LoadStrategy
from elt_dagster.engine.load.bulk import BulkLoad
from elt_dagster.engine.load.merge import MergeInDatabase, MergeInProducer
from elt_dagster.engine.load.merge_new import MergeIntoNewTable
from elt_dagster.engine.load.partition import PartitionAppend, PartitionReplace
from elt_dagster.engine.load.scd2 import Scd2InDatabase, Scd2InProducer, Scd2IntoNewTable, check_validity_times
from elt_dagster.engine.load.tables import table_ident
from elt_dagster.engine.names import PARTITION_COLUMN

FETCH_HASHES_MAX_ROWS = 5_000_000
"""Above this many rows, fetching every hash (16 bytes each) costs too much memory: probe instead."""
BULK_SHARE = 0.25
"""The table's hashes are fetched when the incoming data is at least this share of the table's size."""


@dataclass(frozen=True)
class TableFacts:
    """What the choice depends on."""

    created: bool
    """The table was created by this run (nobody else can see it yet)."""
    merge: bool
    """`target.mode` is merge."""
    rows: int = 0
    """The table's rows (PostgreSQL's estimate)."""
    table_bytes: int = 0
    incoming_bytes: int = 0
    """Roughly what the run brings (a gzipped file counted five-fold)."""
    partition: str | None = None
    """For a partitioned table: "replace" (a run: the partition becomes this load's rows) or "append" (a replay)."""
    partition_has_rows: bool = False
    scd2: bool = False
    """`target.mode` is scd2 (`merge` is true too: its rows go through a merge's winners)."""


@dataclass(frozen=True)
class Choice:
    """A strategy class and, in one sentence, why it was chosen."""

    strategy: type[LoadStrategy]
    reason: str


def choose_strategy(facts: TableFacts) -> Choice:
    """The strategy for a load with these facts, and the reason."""
    if facts.partition:
        if facts.partition == "replace" and facts.partition_has_rows:
            return Choice(
                PartitionReplace, "the partition has rows: replaced by this load's (rows no longer in its files go)"
            )
        why = "the partition is empty" if facts.partition == "replace" else "rows added to their partition"
        return Choice(PartitionAppend, f"{why}: rows copied straight in")
    if facts.scd2:
        return _scd2_choice(facts)
    if facts.created:
        if facts.merge:
            return Choice(MergeIntoNewTable, "the table is new: the winners inserted, its key index built at the end")
        return Choice(BulkLoad, "the table is new: rows copied without its unique index, built once at the end")
    if facts.rows > FETCH_HASHES_MAX_ROWS:
        why = f"the table has {facts.rows:,} rows, over {FETCH_HASHES_MAX_ROWS:,}: too many hashes to fetch"
    elif facts.incoming_bytes < BULK_SHARE * facts.table_bytes:
        why = (
            f"{_size(facts.incoming_bytes)} in, under {BULK_SHARE:.0%} of the table's {_size(facts.table_bytes)}: "
            "cheaper to ask the table"
        )
    else:
        reason = (
            f"{_size(facts.incoming_bytes)} in, at least {BULK_SHARE:.0%} of the table's {_size(facts.table_bytes)} "
            f"({facts.rows:,} rows): its hashes fetched once, rows already there told apart in the producer"
        )
        return Choice(MergeInProducer if facts.merge else HashsetAppend, reason)
    if facts.merge:
        return Choice(MergeInDatabase, f"{why}; rows identical to a stored one left out by an anti-join")
    return Choice(ProbeAppend, f"{why}; each batch's hashes looked up in the unique index")


def _scd2_choice(facts: TableFacts) -> Choice:
    """scd2 in the database for a few rows into a big table, else with the current versions' hashes fetched."""
    if facts.created:
        return Choice(
            Scd2IntoNewTable,
            "the table is new: each key's latest row opens its first version, the index built at the end",
        )
    if facts.rows > FETCH_HASHES_MAX_ROWS or facts.incoming_bytes < BULK_SHARE * facts.table_bytes:
        return Choice(
            Scd2InDatabase,
            f"{_size(facts.incoming_bytes)} into a table of {facts.rows:,} rows: rows identical to a current "
            "version left out by an anti-join, the others close it and open the next",
        )
    return Choice(
        Scd2InProducer,
        f"{_size(facts.incoming_bytes)} in, at least {BULK_SHARE:.0%} of the table's {_size(facts.table_bytes)}: "
        "the current versions' hashes fetched once, rows identical to one told apart in the producer",
    )


def open_strategy(context: LoadContext, incoming_bytes: int, created: bool, replace: bool = True) -> LoadStrategy:
    """Lock the table for this load (readers go on), choose the strategy, and make it.

    A partition's load locks nothing here (loads of other partitions go on beside it); `replace`: it replaces the
    partition (a run), else adds to it (a replay)."""
    conn, table = context.conn, table_ident(context.target)
    if context.partition is not None:
        has_rows = conn.execute(
            sql.SQL(f"SELECT EXISTS (SELECT 1 FROM {{}} WHERE {PARTITION_COLUMN} = %s)").format(table),
            (context.partition,),
        ).fetchone()[0]
        facts = TableFacts(False, False, partition="replace" if replace else "append", partition_has_rows=has_rows)
        choice = choose_strategy(facts)
        return choice.strategy.open(context, choice.reason)
    # Loads into one table take turns (other readers are not blocked): the choice below must stay true.
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
    merge, scd2 = context.target.keyed, context.target.mode == "scd2"
    if scd2:
        check_validity_times(context.target, context.types)
    if created:
        choice = choose_strategy(TableFacts(created=True, merge=merge, scd2=scd2))
    else:
        rows, table_bytes = _table_size(conn, table)
        choice = choose_strategy(TableFacts(False, merge, rows, table_bytes, incoming_bytes, scd2=scd2))
    return choice.strategy.open(context, choice.reason)


def _table_size(conn: psycopg.Connection, table: sql.Identifier) -> tuple[int, int]:
    """The table's rows (estimated; counted if never analysed) and its size in bytes."""
    rows, size = conn.execute(
        sql.SQL("SELECT reltuples::bigint, pg_table_size(oid) FROM pg_class WHERE oid = to_regclass(%s)"),
        (table.as_string(conn),),
    ).fetchone()
    if rows < 0:  # never analysed
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
    return rows, size


def _size(count: int) -> str:
    """A byte count for a person: 512 B, 3.4 kB, 12 MB, 1.5 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} B"
