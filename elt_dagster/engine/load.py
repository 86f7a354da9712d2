"""Load: the validated rows into PostgreSQL with COPY, skipping rows whose hash is already there.

The whole load of a run is one transaction: a crash leaves all of it or none of it.
Append mode probes each batch's hashes against the unique index and COPYs only the new rows straight
into the table; the unique index stays the guard against a concurrent writer (on a conflict the batch
goes through a staging table with ON CONFLICT DO NOTHING). Merge mode COPYs into a temporary table and
upserts on the primary key, the newest row winning.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql

from .config import REJECTED_SUFFIX, Target, key_columns
from .extract import SOURCE_COLUMN
from .validate import HASH_COLUMN

RUN_ID_COLUMN = "_elt_run_id"
LOADED_AT_COLUMN = "_elt_loaded_at"
PG_TYPES = {
    "integer": "integer",
    "bigint": "bigint",
    "float": "double precision",
    "decimal": "numeric",
    "string": "text",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "json": "jsonb",
}
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


@dataclass
class LoadResult:
    """Counts of one load."""

    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    row_count: int = 0
    added_columns: tuple[str, ...] = ()


def table_ident(target: Target, suffix: str = "") -> sql.Composed:
    """`"schema"."table"`, both quoted."""
    return sql.Identifier(target.db_schema, target.table + suffix)


def ensure_tables(conn: psycopg.Connection, target: Target, column_types: dict[str, str]) -> tuple[str, ...]:
    """Create the table and its quarantine table if missing; add columns new to the schema. Returns those added."""
    table = table_ident(target)
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(PG_TYPES[t])) for n, t in column_types.items()]
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.db_schema)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ({}, _elt_row_hash uuid NOT NULL, _elt_source text, "
            "_elt_run_id text, _elt_loaded_at timestamptz NOT NULL DEFAULT now())"
        ).format(table, sql.SQL(", ").join(columns))
    )
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (target.db_schema, target.table),
        )
    }
    added = tuple(n for n in column_types if n not in existing)
    for name in added:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                table, sql.Identifier(name), sql.SQL(PG_TYPES[column_types[name]])
            )
        )
    conn.execute(
        sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (_elt_row_hash)").format(
            sql.Identifier(target.table + "__row_hash"), table
        )
    )
    if target.mode == "merge":
        keys = key_columns(target, column_types)
        conn.execute(
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(target.table + "__pk"), table, sql.SQL(", ").join(map(sql.Identifier, keys))
            )
        )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, raw_record jsonb, column_name text, "
            "reason text NOT NULL, source text, source_row bigint, run_id text, "
            "rejected_at timestamptz NOT NULL DEFAULT now(), reject_hash uuid UNIQUE)"
        ).format(table_ident(target, REJECTED_SUFFIX))
    )
    return added


def _copy_sql(table: sql.Composable, names: list[str], fmt: str = "csv") -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(fmt)
    )


def _copy_batch(cur: psycopg.Cursor, table: sql.Composable, batch: pa.Table) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(batch, buffer, _CSV_OPTIONS)
    with cur.copy(_copy_sql(table, batch.column_names)) as copy:
        copy.write(buffer.getbuffer())


def _with_run_id(batch: pa.RecordBatch | pa.Table, run_id: str) -> pa.Table:
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    run_ids = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, np.int32)), pa.array([run_id]))
    return table.append_column(RUN_ID_COLUMN, run_ids.cast(pa.string()))


def _first_occurrences(hashes: pa.Array) -> pa.Array:
    """Indices of the first row of each distinct hash, in row order."""
    positions = pa.table({"h": hashes, "i": pa.array(np.arange(len(hashes), dtype=np.int64))})
    firsts = positions.group_by("h", use_threads=False).aggregate([("i", "min")]).column("i_min")
    return pc.take(firsts, pc.sort_indices(firsts))


def _append_batch(cur: psycopg.Cursor, target: Target, batch: pa.Table) -> int:
    """COPY the rows of `batch` whose hash is not in the table yet; returns how many were inserted."""
    table = table_ident(target)
    unique = batch.take(_first_occurrences(batch.column(HASH_COLUMN)))
    hashes = unique.column(HASH_COLUMN)
    cur.execute(
        sql.SQL("SELECT encode(uuid_send(_elt_row_hash), 'hex') FROM {} WHERE _elt_row_hash = ANY(%s::uuid[])").format(
            table
        ),
        (hashes.to_pylist(),),
    )
    existing = pa.array([row[0] for row in cur.fetchall()], pa.string())
    new_rows = unique.filter(pc.invert(pc.is_in(hashes, value_set=existing))) if len(existing) else unique
    if not new_rows.num_rows:
        return 0
    try:
        with cur.connection.transaction():
            _copy_batch(cur, table, new_rows)
        return new_rows.num_rows
    except psycopg.errors.UniqueViolation:  # a concurrent writer got some of these rows in first
        return _insert_via_staging(cur, target, new_rows, conflict=sql.SQL("ON CONFLICT (_elt_row_hash) DO NOTHING"))


def _create_stage(cur: psycopg.Cursor, target: Target) -> sql.Identifier:
    stage = sql.Identifier("_elt_stage")
    cur.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            stage, table_ident(target)
        )
    )
    cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS _elt_seq bigserial").format(stage))
    cur.execute(sql.SQL("TRUNCATE {}").format(stage))
    return stage


def _insert_via_staging(cur: psycopg.Cursor, target: Target, rows: pa.Table, conflict: sql.Composable) -> int:
    stage = _create_stage(cur, target)
    _copy_batch(cur, stage, rows)
    names = sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY _elt_seq {}").format(
            table_ident(target), names, names, stage, conflict
        )
    )
    return cur.rowcount


def _merge(cur: psycopg.Cursor, target: Target, business: list[str], stage: sql.Identifier) -> tuple[int, int]:
    """Upsert the staged rows on the primary key, the last staged row per key winning; returns (inserted, updated)."""
    keys = key_columns(target, business)
    names = [*business, HASH_COLUMN, SOURCE_COLUMN, RUN_ID_COLUMN]
    key_list = sql.SQL(", ").join(map(sql.Identifier, keys))
    updates = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names if n not in keys
    )
    name_list = sql.SQL(", ").join(map(sql.Identifier, names))
    cur.execute(
        sql.SQL(
            "WITH upserted AS (INSERT INTO {table} AS t ({names}) "
            "SELECT DISTINCT ON ({keys}) {names} FROM {stage} ORDER BY {keys}, _elt_seq DESC "
            "ON CONFLICT ({keys}) DO UPDATE SET {updates}, _elt_loaded_at = now() "
            "WHERE t._elt_row_hash IS DISTINCT FROM EXCLUDED._elt_row_hash "
            "RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"
        ).format(table=table_ident(target), names=name_list, keys=key_list, stage=stage, updates=updates)
    )
    inserted, updated = cur.fetchone()
    return inserted, updated


def _load_rejects(cur: psycopg.Cursor, target: Target, paths: Iterable[Path], run_id: str) -> int:
    """Quarantine this run's rejects; a record already quarantined by an earlier run is not stored twice."""
    columns = ["raw_record", "column_name", "reason", "source", "source_row", "run_id"]
    stage = sql.Identifier("_elt_rejects_stage")
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (raw_record jsonb, column_name text, reason text, source text, "
            "source_row bigint, run_id text) ON COMMIT DROP"
        ).format(stage)
    )
    count = 0
    with cur.copy(_copy_sql(stage, columns, "text")) as copy:
        for path in paths:
            if not path.exists():
                continue
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    item = json.loads(line)
                    raw = json.dumps(item["raw_record"], ensure_ascii=False)
                    copy.write_row((raw, item["column"], item["reason"], item["source"], item["source_row"], run_id))
                    count += 1
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute(
        sql.SQL(
            "INSERT INTO {} ({}, reject_hash) SELECT {}, md5(concat_ws(chr(31), source, source_row, raw_record::text, "
            "reason))::uuid FROM {} ON CONFLICT (reject_hash) DO NOTHING"
        ).format(table_ident(target, REJECTED_SUFFIX), names, names, stage)
    )
    cur.execute(sql.SQL("TRUNCATE {}").format(stage))
    return count


def iter_validated(path: Path) -> Iterable[pa.RecordBatch]:
    """The validated rows file, batch by batch (memory-mapped)."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)


def load(
    conn: psycopg.Connection,
    target: Target,
    column_types: dict[str, str],
    validated_path: Path,
    reject_paths: Iterable[Path],
    run_id: str,
) -> LoadResult:
    """Load one run's validated rows and rejects in a single transaction."""
    result = LoadResult()
    business = list(column_types)
    with conn.transaction(), conn.cursor() as cur:
        result.added_columns = ensure_tables(conn, target, column_types)
        stage = _create_stage(cur, target) if target.mode == "merge" else None
        valid = 0
        for batch in iter_validated(validated_path):
            valid += batch.num_rows
            rows = _with_run_id(batch, run_id)
            if stage is not None:
                _copy_batch(cur, stage, rows)
            else:
                result.inserted += _append_batch(cur, target, rows)
        if stage is not None:
            result.inserted, result.updated = _merge(cur, target, business, stage)
        result.duplicates = valid - result.inserted - result.updated
        result.rejected = _load_rejects(cur, target, reject_paths, run_id)
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table_ident(target)))
        result.row_count = cur.fetchone()[0]
    return result


def preview(conn: psycopg.Connection, target: Target, limit: int = 10) -> tuple[list[str], list[tuple], int]:
    """(column names, first rows, total row count) of the target table."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT %s").format(table_ident(target)), (limit,))
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table_ident(target)))
        return names, rows, cur.fetchone()[0]
