"""Rows into PostgreSQL with `COPY` (binary, see `binary`, or CSV), and the per-file bookkeeping values."""

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

    Only for tables this transaction holds exclusively (bulk mode, temporary tables): it is DDL.
    """
    conn.execute(
        sql.SQL(
            "ALTER TABLE {} ALTER COLUMN _elt_source SET DEFAULT {}, ALTER COLUMN _elt_run_id SET DEFAULT {}"
        ).format(table, sql.Literal(source), sql.Literal(run_id))
    )


def with_constants(table: pa.Table, source: str, run_id: str) -> pa.Table:
    """`table` plus `_elt_source` and `_elt_run_id` columns of one value each."""
    zeros = pa.array(np.zeros(table.num_rows, np.int32))
    for name, value in (("_elt_source", source), ("_elt_run_id", run_id)):
        table = table.append_column(name, pa.DictionaryArray.from_arrays(zeros, pa.array([value])).cast(pa.string()))
    return table
