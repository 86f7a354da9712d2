"""Replay: validate every quarantined record again with the pipeline's current config, and load those that pass.

After a fix in the YAML (a date format, a type, a rule), the records it rejected are recovered: they are loaded like
any rows (dedup and merge rules included) and leave the quarantine table in the same transaction, so a crash loses
or duplicates nothing. The rest stay, with their new reason. Records about a whole line (malformed, empty) can't be
validated again: they stay as they are (fix the file and load it again).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql

from elt_dagster.engine.config import REJECTED_SUFFIX, LoadedConfig, Target
from elt_dagster.engine.db import connect, target_database_url
from elt_dagster.engine.load.quarantine import storable_text
from elt_dagster.engine.load.session import LoadSession
from elt_dagster.engine.load.tables import count_rows, table_columns, table_ident
from elt_dagster.engine.locks import database_errors, lock_pipeline
from elt_dagster.engine.names import PARTITION_KEY, SOURCE_COLUMN, SOURCE_ROW_COLUMN, qualified_name
from elt_dagster.engine.sources.files.extract import schema_mapper
from elt_dagster.engine.staging import (
    RunStaging,
    StagingWriter,
    prune_run_dirs,
    run_dir,
)
from elt_dagster.engine.state.counts import add_to_row_count
from elt_dagster.engine.transform.validate import pipeline_column_types

REPLAY_BATCH_ROWS = 50_000
_REPLAYABLE = sql.SQL("column_name IS NOT NULL AND jsonb_typeof(raw_record) = 'object'")


@dataclass
class ReplayReport:
    """What a replay did: records examined, recovered (and what loading them did), still rejected."""

    run_id: str
    examined: int = 0
    recovered: int = 0
    inserted: int = 0
    updated: int = 0
    superseded: int = 0
    """Recovered records replaced by a later record of their key, or that deleted their key (merge, scd2)."""
    still_rejected: int = 0
    reasons_changed: int = 0
    not_replayable: int = 0
    remaining: int = 0
    row_count: int = 0
    strategy: str = "none"
    strategy_reason: str = ""
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Recovered records whose row the table had already."""
        return self.recovered - self.inserted - self.updated - self.superseded

    def summary(self) -> str:
        """One line for logs and the terminal."""
        return (
            f"replayed {self.examined} quarantined records: {self.recovered} recovered ({self.inserted} inserted, "
            f"{self.updated} updated, {self.duplicates} already in the table"
            + (f", {self.superseded} superseded by a later record of their key" if self.superseded else "")
            + f"), {self.still_rejected} still rejected "
            f"({self.reasons_changed} with a new reason); {self.not_replayable} whole-line records left as they are; "
            f"{self.remaining} remain in quarantine, the table has {self.row_count} rows"
        )


def replay_rejects(loaded: LoadedConfig, run_id: str | None = None, database_url: str | None = None) -> ReplayReport:
    """Validate the pipeline's quarantined records again with its current config; load and release those that pass."""
    started = time.perf_counter()
    report = ReplayReport(run_id=run_id or uuid.uuid4().hex)
    url = target_database_url(loaded.config.target, database_url)
    with database_errors(), connect(url) as conn:
        lock_pipeline(conn, loaded.name)
        with conn.transaction():
            _replay(conn, url, loaded, report)
    prune_run_dirs(loaded.name)
    report.seconds = time.perf_counter() - started
    return report


def _replay(conn: psycopg.Connection, url: str, loaded: LoadedConfig, report: ReplayReport) -> None:
    target = loaded.config.target
    quarantine = table_ident(target, REJECTED_SUFFIX)
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (quarantine.as_string(conn),)).fetchone()[0]:
        return
    # Loads into the table take turns (see ensure_tables): from here no other load adds to its quarantine, so the
    # records fixed now are the ones the second connection reads.
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('elt.table:' || %s || '.' || %s))", (target.db_schema, target.table)
    )
    replayable = _REPLAYABLE
    if loaded.config.partitions is not None:  # loads of partitions take no table lock: take each partition's
        replayable = sql.SQL("{} AND {}").format(_REPLAYABLE, _lock_partitions(conn, loaded.name, quarantine))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE _elt_replay ON COMMIT DROP AS SELECT id FROM {} WHERE {}").format(
            quarantine, replayable
        )
    )
    report.examined = conn.execute("SELECT count(*) FROM _elt_replay").fetchone()[0]
    report.not_replayable = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(quarantine)).fetchone()[0]
    report.not_replayable -= report.examined
    if report.examined:
        columns, by_name = _columns(conn, loaded, quarantine)
        types = pipeline_column_types(loaded, columns, stored=table_columns(conn, target))
        _load_recovered(conn, url, loaded, report, columns, by_name, types)
    else:
        report.row_count = add_to_row_count(conn, qualified_name(target), 0, lambda: count_rows(conn, target))
    report.remaining = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(quarantine)).fetchone()[0]


def _lock_partitions(conn: psycopg.Connection, pipeline: str, quarantine: sql.Identifier) -> sql.Composable:
    """Wait for, and hold to the commit, the lock of each partition with quarantined records (in key order: no
    deadlock with a run, which holds one), so no run replaces them meanwhile; the condition on records with one."""
    has_key = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s)",
        (quarantine.as_string(conn), PARTITION_KEY),
    ).fetchone()[0]
    if not has_key:
        return sql.SQL("false")
    keys = conn.execute(
        sql.SQL(f"SELECT DISTINCT {PARTITION_KEY} FROM {{}} WHERE {PARTITION_KEY} IS NOT NULL ORDER BY 1").format(
            quarantine
        )
    ).fetchall()
    for (key,) in keys:  # the same lock a run of the partition takes (locks.lock_pipeline)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.pipeline:' || %s))", (f"{pipeline}/{key}",))
    return sql.SQL(f"{PARTITION_KEY} IS NOT NULL")


def _columns(
    conn: psycopg.Connection, loaded: LoadedConfig, quarantine: sql.Identifier
) -> tuple[list[str], dict[str, str]]:
    """The columns the records had, as the current config maps their names (a `from`, `normalize_names`, as a run
    would): declared first; others unless strict mode. And the column of each record key (keys of none left out)."""
    names = conn.execute(
        sql.SQL("SELECT DISTINCT jsonb_object_keys(raw_record) FROM {} JOIN _elt_replay USING (id) ORDER BY 1").format(
            quarantine
        )
    ).fetchall()
    mapper = schema_mapper(loaded)
    targets = {name: mapper.target_name(name, 0, f"the quarantine of {loaded.name}") for (name,) in names}
    return mapper.columns, {name: column for name, column in targets.items() if column is not None}


def _load_recovered(
    conn: psycopg.Connection,
    url: str,
    loaded: LoadedConfig,
    report: ReplayReport,
    columns: list[str],
    by_name: dict[str, str],
    types: dict[str, str],
) -> None:
    """Validate the records source by source and load the valid rows in one `LoadSession` (one per partition, in
    a partitioned pipeline: the rows go back to their partition); the rejects settle the quarantine table (records
    that passed leave it, the others keep their place with their new reason)."""
    target = loaded.config.target
    size = conn.execute(
        sql.SQL("SELECT coalesce(sum(pg_column_size(raw_record)), 0) FROM {} JOIN _elt_replay USING (id)").format(
            table_ident(target, REJECTED_SUFFIX)
        )
    ).fetchone()[0]
    folder = run_dir(loaded.name, report.run_id)
    partitioned = loaded.config.partitions is not None
    by_partition: dict[str | None, list[str | None]] = {}
    for partition, source in _sources(conn, target, partitioned):
        by_partition.setdefault(partition, []).append(source)
    with RunStaging(folder), StagingWriter(folder, columns) as staging, connect(url) as reader:
        # Read on a second connection: the first one is busy copying rows while the next batch is read.
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        last = list(by_partition)[-1] if by_partition else None
        for partition, sources in by_partition.items():
            session = LoadSession(conn, loaded, types, report.run_id, staging, int(size), None, partition, False)
            for source in sources:
                batches = _record_batches(reader, loaded, columns, by_name, source, partition)
                session.load_source(source or "", lambda copy, batches=batches: copy(batches))
            # the rejects of every partition settled once, by the last session (before its row counter moves)
            settle = (lambda rejects: _settle(conn, loaded, report, rejects)) if partition == last else (lambda _: None)
            counts = session.finish(settle)
            report.inserted, report.updated = report.inserted + counts.inserted, report.updated + counts.updated
            report.superseded += counts.superseded + counts.flagged
            report.row_count, report.strategy, report.strategy_reason = (
                counts.row_count,
                counts.strategy,
                counts.strategy_reason,
            )


def _sources(conn: psycopg.Connection, target: Target, partitioned: bool) -> list[tuple[str | None, str | None]]:
    """(partition, source) of the records to replay (partition None in an unpartitioned pipeline)."""
    partition = sql.SQL(PARTITION_KEY if partitioned else "NULL::text")
    query = sql.SQL("SELECT DISTINCT {}, source FROM {} JOIN _elt_replay USING (id) ORDER BY 1, 2").format(
        partition, table_ident(target, REJECTED_SUFFIX)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]


def _record_batches(
    reader: psycopg.Connection,
    loaded: LoadedConfig,
    columns: list[str],
    by_name: dict[str, str],
    source: str | None,
    partition: str | None,
) -> Iterator[tuple[pa.Table, int]]:
    """One source's replayable records as text batches (the row number is the quarantine id, to find them again)."""
    target = loaded.config.target
    in_partition = sql.SQL(f" AND {PARTITION_KEY} = %s" if partition is not None else "")
    query = sql.SQL("SELECT id, raw_record FROM {} WHERE {} AND source IS NOT DISTINCT FROM %s{} ORDER BY id").format(
        table_ident(target, REJECTED_SUFFIX), _REPLAYABLE, in_partition
    )
    with reader.cursor(name="_elt_replay_records") as cursor:
        cursor.execute(query, (source, partition) if partition is not None else (source,))
        while records := cursor.fetchmany(REPLAY_BATCH_ROWS):
            values: dict[str, list] = {name: [None] * len(records) for name in columns}
            for i, (_id, raw) in enumerate(records):
                for name, value in raw.items():
                    column = by_name.get(name)
                    if column is not None and value is not None:
                        values[column][i] = value if isinstance(value, str) else json.dumps(value)
            table = pa.table(
                {
                    **{name: pa.array(values[name], pa.string()) for name in columns},
                    SOURCE_COLUMN: pa.array([source] * len(records), pa.string()),
                    SOURCE_ROW_COLUMN: pa.array(np.array([r[0] for r in records], dtype=np.int64)),
                }
            )
            yield table, 0


def _settle(conn: psycopg.Connection, loaded: LoadedConfig, report: ReplayReport, rejects_path: Path) -> None:
    """Records that passed leave quarantine; the others keep their place with the new reason (stored once)."""
    quarantine = table_ident(loaded.config.target, REJECTED_SUFFIX)
    conn.execute(
        "CREATE TEMP TABLE _elt_still_rejected (id bigint, column_name text, reason text, reason_kind text, "
        "value text) ON COMMIT DROP"
    )
    rejects = rejects_path.open(encoding="utf-8")
    with rejects, conn.cursor() as cur, cur.copy("COPY _elt_still_rejected FROM STDIN") as copy:
        for line in rejects:
            item = json.loads(line)
            texts = (storable_text(item.get(key)) for key in ("column", "reason", "reason_kind", "value"))
            copy.write_row((item["source_row"], *texts))
    report.still_rejected = conn.execute("SELECT count(*) FROM _elt_still_rejected").fetchone()[0]
    report.recovered = conn.execute(
        sql.SQL(
            "DELETE FROM {} q USING _elt_replay r WHERE q.id = r.id "
            "AND NOT EXISTS (SELECT 1 FROM _elt_still_rejected s WHERE s.id = r.id)"
        ).format(quarantine)
    ).rowcount
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE _elt_new_reasons ON COMMIT DROP AS SELECT q.id, s.column_name, s.reason, "
            "md5(concat_ws(chr(31), q.source, q.source_row, q.raw_record::text, s.reason))::uuid AS reject_hash "
            "FROM {} q JOIN _elt_still_rejected s USING (id) "
            "WHERE q.reason IS DISTINCT FROM s.reason OR q.column_name IS DISTINCT FROM s.column_name"
        ).format(quarantine)
    )
    # the same record quarantined twice (under two old reasons) is kept once under its new one
    conn.execute(
        sql.SQL(
            "DELETE FROM {q} USING (SELECT id, reject_hash, row_number() OVER (PARTITION BY reject_hash ORDER BY id) "
            "AS n FROM _elt_new_reasons) d WHERE {q}.id = d.id AND (d.n > 1 OR EXISTS "
            "(SELECT 1 FROM {q} o WHERE o.reject_hash = d.reject_hash AND o.id <> d.id))"
        ).format(q=quarantine)
    )
    report.reasons_changed = conn.execute(
        sql.SQL(
            "UPDATE {} q SET column_name = n.column_name, reason = n.reason, reject_hash = n.reject_hash "
            "FROM _elt_new_reasons n WHERE q.id = n.id"
        ).format(quarantine)
    ).rowcount
    conn.execute(  # each record's reason kind and value as this validation found them (a record stored before kinds)
        sql.SQL(
            "UPDATE {} q SET reason_kind = s.reason_kind, value = s.value FROM _elt_still_rejected s WHERE q.id = s.id "
            "AND (q.reason_kind IS DISTINCT FROM s.reason_kind OR q.value IS DISTINCT FROM s.value)"
        ).format(quarantine)
    )
