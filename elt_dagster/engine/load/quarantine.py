"""The quarantine table `<table>__rejected`: every record that could not be loaded, with the reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from elt_dagster.engine.config import Target
from elt_dagster.engine.load.tables import QUARANTINE_KIND_COLUMNS, names_sql, table_ident
from elt_dagster.engine.names import PARTITION_KEY, REJECTED_SUFFIX, REJECTS_STAGE_TABLE
from elt_dagster.engine.transform.rules import reject_reason

_COLUMNS = ["raw_record", "column_name", "reason", "reason_kind", "value", "source", "source_row", "run_id"]
_TEXTS = ["column", "reason", "reason_kind", "value", "source"]
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def storable_json(text: str) -> str:
    """JSON text that `jsonb` accepts: a NUL character (`\\u0000`, which jsonb refuses) becomes the text `\\u0000`."""
    return _JSON_NUL.sub(r"\1\\\\u0000", text)


def storable_text(text: str | None) -> str | None:
    """Text that PostgreSQL can hold: a NUL character becomes the text `\\u0000`."""
    return text.replace("\x00", "\\u0000") if text else text


def _storable_dumps(value: object) -> str:
    return storable_json(json.dumps(value, ensure_ascii=False))


def quarantine(
    conn: psycopg.Connection,
    target: Target,
    rejects_path: Path,
    run_id: str,
    partition: str | None = None,
    replaced: str | None = None,
) -> int:
    """Store the rejects of a run (JSON Lines); a record already quarantined by an earlier run is not stored twice.

    `partition`: the partition the records belong to; `replaced`: a partition whose records are replaced by these
    (its earlier records removed first). Returns how many rejects the file held.
    """
    table = table_ident(target, REJECTED_SUFFIX)
    if replaced is not None:
        conn.execute(sql.SQL(f"DELETE FROM {{}} WHERE {PARTITION_KEY} = %s").format(table), (replaced,))
    stage = sql.Identifier(REJECTS_STAGE_TABLE)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (raw_record jsonb, column_name text, reason text, reason_kind text, "
            "value text, source text, source_row bigint, run_id text) ON COMMIT DROP"
        ).format(stage)
    )
    count = 0
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(stage, names_sql(_COLUMNS))
    with conn.cursor() as cur, cur.copy(query) as copy:
        copy.set_types(["jsonb", "text", "text", "text", "text", "text", "int8", "text"])
        if rejects_path.exists():
            with rejects_path.open(encoding="utf-8") as handle:
                for line in handle:
                    item = json.loads(line)
                    raw = Jsonb(item["raw_record"], dumps=_storable_dumps)
                    texts = [storable_text(item.get(key)) for key in _TEXTS]  # no kind: a record stored before
                    copy.write_row((raw, *texts, item["source_row"], run_id))
                    count += 1
    if count:
        _insert_staged(conn, table, stage, partition)
    conn.execute(sql.SQL("TRUNCATE {}").format(stage))
    return count


def _insert_staged(
    conn: psycopg.Connection, table: sql.Identifier, stage: sql.Identifier, partition: str | None
) -> None:
    """The staged rejects into the quarantine table, each once (by its hash), with its partition if any."""
    partition_column = sql.SQL(f", {PARTITION_KEY}" if partition is not None else "")
    conn.execute(
        sql.SQL(
            "INSERT INTO {} ({}{}, reject_hash) SELECT {}{}, md5(concat_ws(chr(31), source, source_row, "
            "raw_record::text, reason))::uuid FROM {} ON CONFLICT (reject_hash) DO NOTHING"
        ).format(
            table,
            names_sql(_COLUMNS),
            partition_column,
            names_sql(_COLUMNS),
            sql.SQL(", %s" if partition is not None else ""),
            stage,
        ),
        (partition,) if partition is not None else None,
    )


@dataclass
class QuarantineSummary:
    """What a quarantine table holds: its total, what one run added, counts by column and by reason kind (one
    entry for 60 amounts that are not numbers, with one of their values as an example), the latest records."""

    total: int = 0
    added_by_run: int = 0
    by_column: list[tuple[str, int]] = field(default_factory=list)
    by_reason: list[tuple[str, int, str | None]] = field(default_factory=list)
    """(reason kind with its column, records, an example value), the most frequent first."""
    latest: list[tuple] = field(default_factory=list)
    """(record, column, reason, source, source_row, run_id), newest first."""


LATEST_COLUMNS = ["record", "column", "reason", "source", "source_row", "run_id"]
WHOLE_RECORD = "(whole record)"
"""The column of a reject that is about the whole record (a malformed line, an empty record)."""


def kinds_query(conn: psycopg.Connection, table: sql.Identifier) -> sql.Composable:
    """A query of the quarantine table's records with `KIND_COLUMNS`: `old_reason` is the whole reason of a record
    stored before kinds were kept (its `reason_kind` NULL), by which it is counted instead."""
    named = conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = ANY(%s) AND NOT attisdropped",
        (table.as_string(conn), list(QUARANTINE_KIND_COLUMNS)),
    ).fetchone()[0]
    kind, value = ("reason_kind", "value") if named == len(QUARANTINE_KIND_COLUMNS) else ("NULL::text",) * 2
    return sql.SQL(
        "SELECT id, run_id, source, source_row, column_name, {kind} AS reason_kind, {value} AS value, reason, "
        "raw_record, rejected_at, CASE WHEN {kind} IS NULL THEN reason END AS old_reason FROM {table}"
    ).format(kind=sql.SQL(kind), value=sql.SQL(value), table=table)


KIND_COLUMNS = ["id", "run_id", "source", "source_row", "column_name", "reason_kind", "value", "reason"]
"""The columns of `kinds_query` a person reads (and `raw_record`, `rejected_at`, `old_reason`)."""


def kind_label(column: str | None, kind: str | None, old_reason: str | None) -> str:
    """How a reason kind is shown, with its column: `column 'amount': is not a decimal number (with a dot)`."""
    return reject_reason(column, kind) if kind is not None else old_reason or ""


def quarantine_summary(conn: psycopg.Connection, target: Target, run_id: str, limit: int = 10) -> QuarantineSummary:
    """The quarantine table's figures (empty when it does not exist yet): the reason kinds most frequent first."""
    table = table_ident(target, REJECTED_SUFFIX)
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table.as_string(conn),)).fetchone()[0]:
        return QuarantineSummary()
    # one scan: the total (and this run's share), the counts by column and by kind, as grouping sets
    groups = conn.execute(
        sql.SQL(
            "SELECT level, column_name, reason_kind, old_reason, n, added, example FROM (SELECT "
            "grouping(column_name, reason_kind, old_reason) AS level, column_name, reason_kind, old_reason, "
            "count(*) AS n, count(*) FILTER (WHERE run_id = %s) AS added, min(value) AS example, row_number() OVER "
            "(PARTITION BY grouping(column_name, reason_kind, old_reason) ORDER BY count(*) DESC, "
            "coalesce(column_name, %s), reason_kind, old_reason) AS place FROM ({}) k "
            "GROUP BY GROUPING SETS ((column_name), (column_name, reason_kind, old_reason), ())) g "
            "WHERE place <= %s ORDER BY level, place"
        ).format(kinds_query(conn, table)),
        (run_id, WHOLE_RECORD, limit),
    ).fetchall()
    total, added = next(((n, run) for level, *_, n, run, _ in groups if level == 7), (0, 0))
    by_column = [(column or WHOLE_RECORD, n) for level, column, *_, n, _, _ in groups if level == 3]
    by_reason = [
        (kind_label(column, kind, old), n, example) for level, column, kind, old, n, _, example in groups if level == 0
    ]
    latest = conn.execute(
        sql.SQL(
            "SELECT raw_record::text, coalesce(column_name, %s), reason, source, source_row, run_id FROM {} "
            "ORDER BY id DESC LIMIT %s"
        ).format(table),
        (WHOLE_RECORD, limit),
    ).fetchall()
    return QuarantineSummary(total, added, by_column, by_reason, latest)
