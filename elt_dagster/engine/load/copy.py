"""Rows into PostgreSQL with `COPY` (binary, see `binary`, or CSV), and the bookkeeping values of each row."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from elt_dagster.engine.load.tables import names_sql
from elt_dagster.engine.names import RUN_ID_COLUMN, SOURCE_COLUMN

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


def to_csv(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, _CSV_OPTIONS)
    return buffer.getvalue()


@dataclass(frozen=True)
class CopyData:
    """One COPY's data: PostgreSQL's binary format (header and trailer included), or CSV.

    In parts, written one after the other: joining a batch's encoded rows to its header and trailer would copy
    every byte once more (~0.1 s per 1M rows).
    """

    parts: tuple[bytes, ...]
    binary: bool = False


def copy_rows(
    conn: psycopg.Connection,
    table: sql.Composable,
    names: list[str],
    chunks: Iterable[CopyData],
    freeze: bool = False,
) -> None:
    """COPY each of `chunks` into `names` of `table` (one COPY each: a binary chunk is a whole COPY stream).

    `freeze`: the rows are written frozen (the table was created or truncated in this subtransaction), so no later
    reader has to set their hint bits, page by page, on its first scan.
    """
    for chunk in chunks:
        if not any(chunk.parts):
            continue
        options = sql.SQL("FORMAT binary" if chunk.binary else "FORMAT csv")
        if freeze:
            options = sql.SQL("{}, FREEZE").format(options)
        query = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(table, names_sql(names), options)
        with conn.cursor() as cur, cur.copy(query) as copy:
            for part in chunk.parts:
                copy.write(part)


def set_row_defaults(conn: psycopg.Connection, table: sql.Composable, source: str | None, run_id: str | None) -> None:
    """Make `_elt_source` and `_elt_run_id` defaults of `table`, so COPY need not send them with every row.

    DDL, so once per run and only for a table this transaction holds exclusively (bulk mode, the merge stage): each
    change holds a lock on the replaced default until the commit, and thousands of them exhaust PostgreSQL's lock
    table ("out of shared memory"). Rows of other sources carry their `_elt_source` themselves (`with_lineage`).
    """
    conn.execute(
        sql.SQL(
            f"ALTER TABLE {{}} ALTER COLUMN {SOURCE_COLUMN} SET DEFAULT {{}}, ALTER COLUMN {RUN_ID_COLUMN} SET DEFAULT {{}}"
        ).format(table, sql.Literal(source), sql.Literal(run_id))
    )


def with_lineage(rows: pa.Table, names: list[str], source: str | None, run_id: str | None = None) -> pa.Table:
    """Columns `names` of `rows`, then `_elt_source` and, with `run_id`, `_elt_run_id`.

    `_elt_source` is `source` for every row, or, when `source` is None, the rows' own (`rows` of several files hold
    it as a column).
    """
    table = rows.select([*names, *([SOURCE_COLUMN] if source is None else [])])
    for name, value in ((SOURCE_COLUMN, source), (RUN_ID_COLUMN, run_id)):
        if value is not None:
            table = table.append_column(name, constant_column(value, rows.num_rows))
    return table


def constant_column(value: str, rows: int) -> pa.Array:
    """`rows` times `value`, as one dictionary entry (cheap to build whatever `value`'s length)."""
    zeros = pa.array(np.zeros(rows, np.int32))
    return pa.DictionaryArray.from_arrays(zeros, pa.array([value])).cast(pa.string())
