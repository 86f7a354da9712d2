"""The target table and its quarantine table: DDL, quoting, previews."""

from __future__ import annotations

import psycopg
from psycopg import sql

from elt_dagster.engine.config import Target, key_columns
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.keyed_tables import check_mode, drop_current_view, ensure_current_view, mode_columns
from elt_dagster.engine.load.type_changes import apply_type_changes, type_changes
from elt_dagster.engine.names import (
    HASH_COLUMN,
    HASH_INDEX_SUFFIX,
    LOADED_AT_COLUMN,
    PARTITION_COLUMN,
    PARTITION_KEY,
    PK_INDEX_SUFFIX,
    REJECTED_SUFFIX,
    RUN_ID_COLUMN,
    SEQ_COLUMN,
    SOURCE_COLUMN,
    STAGE_TABLE,
    VALID_TO_COLUMN,
    qualified_name,
)
from elt_dagster.engine.types import TYPES, by_pg_format

MERGE_TABLE_OPTIONS = " WITH (fillfactor = 85)"
"""Room left in each page of a merge table: an updated row's new version fits beside the old one (a HOT update,
no new index entry, no other page written). The `UPDATE` of 200k rows of a 1M-row table: 5.0 s full, 3.2 s at 85
(3.0 s at 80, 3.9 s at 90), for a table 18% larger."""


def table_ident(target: Target, suffix: str = "") -> sql.Identifier:
    """`"schema"."table"`, both quoted."""
    return sql.Identifier(target.db_schema, target.table + suffix)


def hash_index_ident(target: Target) -> sql.Identifier:
    return sql.Identifier(target.db_schema, target.table + HASH_INDEX_SUFFIX)


def names_sql(names: list[str]) -> sql.Composed:
    """`"a", "b"`: a quoted column list."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


def table_exists(conn: psycopg.Connection, target: Target) -> bool:
    """Whether the target table exists (before `ensure_tables`: whether this run creates it)."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table_ident(target).as_string(conn),)).fetchone()[0]


def create_indexes(conn: psycopg.Connection, target: Target, columns: list[str], partitioned: bool = False) -> None:
    """The table's unique index, unless there: on the row hash (append mode), or on the primary key (merge mode).

    A merge table needs no index on the hash: its key's index keeps one row per key, and an incoming row is
    compared with the stored row of its key. Each index costs every updated row an entry (the hash index was
    1.5 s of the 5.5 s `UPDATE` of 200k rows of a 1M-row table). A table switched to append mode gets its hash
    index on its next load (it blocks writers, not readers, while it is built).
    """
    # Only when missing: CREATE INDEX IF NOT EXISTS locks the table (SHARE) before it looks, and would wait for
    # every load writing it (the partition loads of one table run side by side)
    table = table_ident(target)
    if not target.keyed:
        if not _exists(conn, sql.Identifier(target.db_schema, target.table + HASH_INDEX_SUFFIX)):
            unique = f"{PARTITION_COLUMN}, {HASH_COLUMN}" if partitioned else HASH_COLUMN  # once per partition
            conn.execute(
                sql.SQL(f"CREATE UNIQUE INDEX IF NOT EXISTS {{}} ON {{}} ({unique})").format(
                    sql.Identifier(target.table + HASH_INDEX_SUFFIX), table
                )
            )
    elif not _exists(conn, sql.Identifier(target.db_schema, target.table + PK_INDEX_SUFFIX)):
        current = sql.SQL(f" WHERE {VALID_TO_COLUMN} IS NULL" if target.mode == "scd2" else "")  # one per key
        conn.execute(
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({}){}").format(
                sql.Identifier(target.table + PK_INDEX_SUFFIX), table, names_sql(key_columns(target, columns)), current
            )
        )


def _exists(conn: psycopg.Connection, relation: sql.Identifier) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation.as_string(conn),)).fetchone()[0]


def drop_indexes(conn: psycopg.Connection, target: Target) -> None:
    """Drop the table's unique indexes: only for a table created in this transaction (it locks out readers)."""
    for suffix in (HASH_INDEX_SUFFIX, PK_INDEX_SUFFIX):
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(target.db_schema, target.table + suffix)))


def ensure_tables(
    conn: psycopg.Connection, target: Target, column_types: dict[str, str], partitioned: bool = False
) -> tuple[tuple[str, ...], bool]:
    """Create the table and its quarantine table if missing; add columns new to the schema. Returns the columns
    added, and whether this transaction created the table (decided under the table's lock).

    `partitioned`: the table has `_elt_partition` (its unique index on it and the row hash) and its quarantine a
    `partition_key`; a table loaded the other way is refused (its index would be wrong)."""
    table = table_ident(target)
    if partitioned and _partitioned_table_ready(conn, target, column_types):
        return (), False  # nothing to create or add: no lock, so the loads of other partitions go on beside this one
    columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(TYPES[t].pg_type)) for n, t in column_types.items()]
    # Runs into one table take turns from here to their commit, so two never race to create or alter it; a run
    # that must create the schema holds its name too (CREATE ... IF NOT EXISTS is not safe against a racing twin).
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('elt.table:' || %s || '.' || %s))", (target.db_schema, target.table)
    )
    schema_name = sql.Identifier(target.db_schema).as_string(conn)
    if conn.execute("SELECT to_regnamespace(%s) IS NULL", (schema_name,)).fetchone()[0]:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.schema:' || %s))", (target.db_schema,))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.db_schema)))
    created = not table_exists(conn, target)
    partition = f", {PARTITION_COLUMN} text NOT NULL" if partitioned else ""
    own = mode_columns(target)
    extra = "".join(f", {name} {ddl}" for name, ddl in own.items())
    conn.execute(
        sql.SQL(
            f"CREATE TABLE IF NOT EXISTS {{}} ({{}}, {HASH_COLUMN} uuid NOT NULL, {SOURCE_COLUMN} text, {RUN_ID_COLUMN} text, "
            f"{LOADED_AT_COLUMN} timestamptz NOT NULL DEFAULT now(){partition}{extra}){{}}"
        ).format(table, sql.SQL(", ").join(columns), sql.SQL(MERGE_TABLE_OPTIONS if target.keyed else ""))
    )
    stored = table_columns(conn, target)
    existing = set(stored)
    _check_partitioning(target, existing, partitioned)
    check_mode(target, stored)
    if type_changes(stored, column_types):
        drop_current_view(conn, target)
    apply_type_changes(conn, target, stored, column_types)
    added = tuple(n for n in column_types if n not in existing)
    wanted = {name: sql.SQL(TYPES[column_types[name]].pg_type) for name in added}
    wanted |= {name: sql.SQL(ddl) for name, ddl in own.items() if name not in existing}  # deletes turned on
    for name, column_type in wanted.items():
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(table, sql.Identifier(name), column_type)
        )
    create_indexes(conn, target, list(column_types), partitioned)
    ensure_current_view(conn, target, table_columns(conn, target) if wanted else stored)
    ensure_quarantine(conn, target, partitioned)
    return added, created


def _check_partitioning(target: Target, columns: set[str], partitioned: bool) -> None:
    """A table is loaded with partitions or without, always: its unique index differs."""
    if (PARTITION_COLUMN in columns) != partitioned:
        loaded, now = ("with", "without") if PARTITION_COLUMN in columns else ("without", "with")
        raise PipelineError(
            f"table {qualified_name(target)} was loaded {loaded} partitions and this pipeline loads {now} them: "
            "load into another table (target.table), or drop this one to load it again"
        )


QUARANTINE_KIND_COLUMNS = ("reason_kind", "value")
"""A reject's reason kind (`is not a decimal number (with a dot)`) and failing value: added to quarantine tables
made before they were kept (text, NULL in the records stored before)."""


def ensure_quarantine(conn: psycopg.Connection, target: Target, partitioned: bool) -> None:
    """The quarantine table `<table>__rejected`, created if missing, with the columns added since it was made."""
    quarantine = table_ident(target, REJECTED_SUFFIX)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, raw_record jsonb, column_name text, "
            "reason text NOT NULL, reason_kind text, value text, source text, source_row bigint, run_id text, "
            "rejected_at timestamptz NOT NULL DEFAULT now(), reject_hash uuid UNIQUE)"
        ).format(quarantine)
    )
    # Only when missing: ALTER TABLE locks the table (ACCESS EXCLUSIVE) before it looks
    existing = _columns(conn, quarantine)
    missing = [name for name in QUARANTINE_KIND_COLUMNS if name not in existing]
    if partitioned and PARTITION_KEY not in existing:
        missing.append(PARTITION_KEY)
    if missing:
        added = sql.SQL(", ").join(
            sql.SQL("ADD COLUMN IF NOT EXISTS {} text").format(sql.Identifier(n)) for n in missing
        )
        conn.execute(sql.SQL("ALTER TABLE {} {}").format(quarantine, added))


def _partitioned_table_ready(conn: psycopg.Connection, target: Target, column_types: dict[str, str]) -> bool:
    """Whether the partitioned table, its index and its quarantine table are there with every column."""
    existing = table_columns(conn, target)
    return (
        PARTITION_COLUMN in existing
        and all(name in existing for name in column_types)
        and not type_changes(existing, column_types)
        and _exists(conn, sql.Identifier(target.db_schema, target.table + HASH_INDEX_SUFFIX))
        and {PARTITION_KEY, *QUARANTINE_KIND_COLUMNS} <= _columns(conn, table_ident(target, REJECTED_SUFFIX)).keys()
    )


def table_columns(conn: psycopg.Connection, target: Target) -> dict[str, str]:
    """The table's columns and their PostgreSQL types, in table order ({} if the table does not exist)."""
    return _columns(conn, table_ident(target))


def _columns(conn: psycopg.Connection, relation: sql.Identifier) -> dict[str, str]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (relation.as_string(conn),),
    ).fetchall()
    return dict(rows)


UNKNOWN_TYPE = "other"
"""The type name of a stored column no registered type creates."""


def stored_types(conn: psycopg.Connection, target: Target, columns: list[str]) -> dict[str, str]:
    """Each of `columns` by the type the table stores it as (binary COPY must send that type, whatever the schema
    says now); "other" for a type this tool doesn't create (a column someone altered): such rows go as CSV."""
    stored = table_columns(conn, target)
    found = {name: by_pg_format(stored.get(name, "")) for name in columns}
    return {name: column_type.name if column_type else UNKNOWN_TYPE for name, column_type in found.items()}


def count_rows(conn: psycopg.Connection, target: Target) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table_ident(target))).fetchone()[0]


def preview(conn: psycopg.Connection, target: Target, limit: int = 10) -> tuple[list[str], list[tuple]]:
    """(column names, first rows) of the target table."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT %s").format(table_ident(target)), (limit,))
        return [d.name for d in cur.description or []], cur.fetchall()


def create_stage(conn: psycopg.Connection, target: Target) -> sql.Identifier:
    """A temporary table like the target (plus `_elt_seq`, the rows' order), empty, dropped at commit."""
    stage = sql.Identifier(STAGE_TABLE)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            stage, table_ident(target)
        )
    )
    conn.execute(sql.SQL(f"ALTER TABLE {{}} ADD COLUMN IF NOT EXISTS {SEQ_COLUMN} bigserial").format(stage))
    conn.execute(sql.SQL("TRUNCATE {}").format(stage))
    return stage
