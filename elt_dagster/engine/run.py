"""One pipeline run, in three phases: plan what to read -> load each source -> commit the bookkeeping.

Everything is one streaming pass: a background thread reads, stages, validates and hashes the next batch while the
main thread copies the previous one into PostgreSQL, so Python's work and the database's overlap on two cores.
Only new or changed files are read; their fingerprints are recorded in the same transaction as their rows, and
API cursors move with the rows too. This is the code path of the Dagster assets, the CLI and the benchmark alike.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import psycopg

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.config.partitions import FileBatch, PartitionWindow
from elt_dagster.engine.db import connect, target_database_url
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.session import LoadCounts, LoadSession
from elt_dagster.engine.load.tables import table_columns, table_exists
from elt_dagster.engine.locks import database_errors, lock_pipeline
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.prefetch import prefetch
from elt_dagster.engine.reject_limit import RejectLimit
from elt_dagster.engine.run_report import LoadResult, RunReport
from elt_dagster.engine.small_files import largest_label, load_units
from elt_dagster.engine.sources.api.cursor import cursor_key
from elt_dagster.engine.sources.api.spool import SpooledApi, spool_api_sources
from elt_dagster.engine.sources.files.extract import (
    ColumnMapper,
    FileReport,
    SourceFile,
    list_source_files,
    new_mapper,
    read_file_with_fallback,
)
from elt_dagster.engine.sources.objects.store import list_source_objects, spool_bytes, spool_objects
from elt_dagster.engine.staging import RunStaging, StagingWriter, prune_run_dirs, run_dir
from elt_dagster.engine.state.counts import current_row_count
from elt_dagster.engine.state.cursors import record_cursor, stored_cursors
from elt_dagster.engine.state.fingerprints import (
    Fingerprint,
    files_to_read,
    forget_files,
    record_files,
    stored_fingerprints,
)
from elt_dagster.engine.transform.validate import pipeline_column_types


@dataclass
class RunPlan:
    """What a run reads: the new or changed local files (with their stat fingerprints), the API sources fetched
    into spool files, and the columns all of them map to."""

    files: list[SourceFile]
    fingerprints: dict[str, Fingerprint]
    apis: list[SpooledApi]
    mapper: ColumnMapper
    column_types: dict[str, str]
    unchanged: int
    skipped: list[str]
    table_missing: bool = False
    """The table was loaded before and is gone: every source is read again."""
    partition: PartitionWindow | FileBatch | None = None
    """The partition the run replaces (all its files are read), for a partitioned pipeline."""
    unplaced: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    """Recorded files of a snapshot that are gone: the snapshot is read whole, and they are forgotten with its rows."""

    @property
    def sources(self) -> list[SourceFile]:
        """What the run reads: the changed files, and the API sources that returned records."""
        return self.files + [api.file for api in self.apis if api.stats.records]

    @cached_property
    def sizes(self) -> dict[Path, int]:
        """Each source's size in bytes, stat'ed once (a local file's is in its fingerprint)."""
        stated = {path: fingerprint.size for path, fingerprint in self.fingerprints.items()}
        return {f.path: stated.get(str(f.path)) or f.path.stat().st_size for f in self.sources}

    @property
    def incoming_bytes(self) -> int:
        """Roughly how much this run brings (gzip counted five-fold), for the loader's choice."""
        return sum(size * (5 if path.name.lower().endswith(".gz") else 1) for path, size in self.sizes.items())


def run_pipeline(
    loaded: LoadedConfig,
    run_id: str | None = None,
    database_url: str | None = None,
    full_refresh: bool = False,
    allow_deletes: bool = False,
) -> RunReport:
    """Run the pipeline once: read new or changed files (all with `full_refresh`), validate, load. A snapshot's
    deletes past `target.max_deleted` stop the run unless `allow_deletes`.

    A partitioned pipeline is run a partition at a time (`partition_run.run_partition`)."""
    if loaded.config.partitions is not None:
        raise PipelineError(
            f"pipeline {loaded.name!r} is partitioned (partitions.by: {loaded.config.partitions.by}): "
            "load one partition at a time (in Dagster: materialise a partition or launch a backfill)"
        )
    started = time.perf_counter()
    run_id = run_id or uuid.uuid4().hex
    with database_errors():
        url = target_database_url(loaded.config.target, database_url)
        plan, result = _run(loaded, run_id, url, full_refresh, allow_deletes)
    return build_report(run_id, plan, result, time.perf_counter() - started)


def build_report(run_id: str, plan: RunPlan, result: LoadResult, seconds: float) -> RunReport:
    """The run's report, from its plan and what its load did: the one place a RunReport is made."""
    counts = result.counts
    return RunReport(
        run_id=run_id,
        column_types=plan.column_types,
        staging_path=result.staging_path,
        rejects_path=result.rejects_path,
        files=result.files,
        skipped_files=plan.skipped,
        unchanged_files=plan.unchanged,
        rows_valid=counts.rows_valid,
        invalid=counts.invalid,
        first_rejects=result.first_rejects,
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        superseded=counts.superseded,
        flagged=counts.flagged,
        row_count=counts.row_count,
        table_schema=result.table_schema,
        added_columns=counts.added_columns,
        strategy=counts.strategy,
        strategy_reason=counts.strategy_reason,
        seconds=seconds,
        api_sources=[api.summary() for api in plan.apis],
        table_missing=plan.table_missing,
        partition=plan.partition.key if plan.partition else None,
        unplaced_files=plan.unplaced,
    )


def _run(
    loaded: LoadedConfig, run_id: str, url: str, full_refresh: bool, allow_deletes: bool
) -> tuple[RunPlan, LoadResult]:
    with connect(url) as conn, RunStaging(run_dir(loaded.name, run_id)) as staging:
        lock_pipeline(conn, loaded.name)
        plan = plan_run(conn, loaded, staging, full_refresh)
        target = loaded.config.target
        if plan.sources and plan.mapper.columns:
            staging.reserve(plan.incoming_bytes)
            result = TableLoad(conn, loaded, plan, run_id, staging.folder, allow_deletes).run()
        else:
            count = current_row_count(conn, qualified_name(target))
            result = LoadResult(LoadCounts(row_count=count), table_columns(conn, target))
    if plan.sources:
        prune_run_dirs(loaded.name)
    return plan, result


def is_snapshot(loaded: LoadedConfig) -> bool:
    """Whether the pipeline's source is a snapshot (then its only one): what it reads is the table's full state."""
    return any(source.snapshot for source in loaded.config.sources)


def plan_run(conn: psycopg.Connection, loaded: LoadedConfig, staging: RunStaging, full_refresh: bool) -> RunPlan:
    """Phase 1: the files that changed since their last load (stat, then content hash), and the API sources
    fetched from their remembered cursors. The state is read in a short transaction, ended before any fetch."""
    files, skipped = list_source_files(loaded)
    objects, skipped_objects = list_source_objects(loaded)
    current = {str(f.path): Fingerprint.stat(f.path) for f in files} | {item.url: item.fingerprint for item in objects}
    stored = stored_fingerprints(conn, loaded.name)
    # files and cursors recorded as loaded into a table that is gone (dropped by hand) are read again in full
    table_missing = bool(stored) and not table_exists(conn, loaded.config.target)
    full_refresh = full_refresh or table_missing
    cursors = {} if full_refresh else stored_cursors(conn, loaded.name)
    stored_types = table_columns(conn, loaded.config.target) if loaded.config.schema_ is None else {}
    conn.commit()
    changed = {c.path for c in (current.values() if full_refresh else files_to_read(current.values(), stored))}
    # a snapshot is read whole when one of its files changed or is gone (with none left, nothing is read or deleted)
    gone = sorted(set(stored) - set(current)) if is_snapshot(loaded) and current else []
    if (changed or gone) and is_snapshot(loaded):
        changed = set(current)
    todo = [f for f in files if str(f.path) in changed]
    to_spool = [item for item in objects if item.url in changed]  # only new or changed ones
    staging.reserve(spool_bytes(to_spool))  # before any download: the disk must hold them and their staged rows
    spooled = spool_objects(to_spool, staging.folder)
    todo += [spooled_file for spooled_file, _ in spooled]
    apis = spool_api_sources(loaded, staging.folder, cursors)
    mapper = new_mapper(loaded, todo + [api.file for api in apis if api.stats.records])
    types = pipeline_column_types(loaded, mapper.columns, mapper.found_types, stored_types)
    # a spooled object's fingerprint is found by its spool file's path, and recorded by its URL
    fingerprints = {path: current[path] for path in changed} | {str(f.path): fingerprint for f, fingerprint in spooled}
    unchanged = len(files) + len(objects) - len(todo)
    skipped += skipped_objects
    return RunPlan(todo, fingerprints, apis, mapper, types, unchanged, skipped, table_missing, gone=gone)


class TableLoad:
    """Phases 2 and 3, in one transaction: load each planned source into the table through one `LoadSession`,
    check the reject limit (`reject_limit`), then commit the bookkeeping (API cursors, the session's finish:
    quarantine and row count)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        loaded: LoadedConfig,
        plan: RunPlan,
        run_id: str,
        folder: Path,
        allow_deletes: bool = False,
    ):
        self.conn, self.loaded, self.plan, self.run_id, self.folder = conn, loaded, plan, run_id, folder
        self.allow_deletes = allow_deletes
        self.files: list[FileReport] = []

    def run(self) -> LoadResult:
        plan = self.plan
        partition = plan.partition.key if plan.partition else None
        with StagingWriter(self.folder, plan.mapper.columns) as staging:
            limit = RejectLimit(self.conn, self.loaded, staging, self.run_id, partition)
            with limit, self.conn.transaction():  # past the limit: rolled back, then the rejects quarantined
                largest = largest_label(plan.sources, plan.sizes)
                session = LoadSession(
                    self.conn,
                    self.loaded,
                    plan.column_types,
                    self.run_id,
                    staging,
                    plan.incoming_bytes,
                    largest,
                    partition,
                    snapshot=is_snapshot(self.loaded),
                    allow_deletes=self.allow_deletes,
                )
                for unit in load_units(plan.sources, plan.sizes):
                    if isinstance(unit, list):
                        self.load_small_files(session, unit)
                    else:
                        self.load_source(session, unit)
                limit.check(session.counts.rows_valid, session.counts.invalid + sum(f.malformed for f in self.files))
                self.record_cursors()
                forget_files(self.conn, self.loaded.name, plan.gone)
                counts = session.finish()
                table_schema = table_columns(self.conn, self.loaded.config.target)
            return LoadResult(
                counts,
                table_schema,
                self.files,
                staging.staging_path,
                staging.rejects_path,
                list(staging.first_rejects),
            )

    def load_source(self, session: LoadSession, source_file: SourceFile) -> None:
        """Phase 2 for one source: stream it into the table; a local file's fingerprint is recorded with its rows."""
        fingerprint = self.plan.fingerprints.get(str(source_file.path))
        # hashed before it is read, checked after: a file rewritten meanwhile is not recorded, so read again
        before = fingerprint.with_content_hash() if fingerprint else None
        file_report = session.load_source(
            source_file.source_label,
            lambda copy: read_file_with_fallback(source_file, self.plan.mapper, session.staging, copy),
        )
        self.files.append(file_report)
        if before is not None and Fingerprint.stat(source_file.path).same_stat(before):
            record_files(self.conn, self.loaded.name, [(before, file_report.rows)], self.run_id)

    def load_small_files(self, session: LoadSession, files: list[SourceFile]) -> None:
        """Phase 2 for a run of small files: a group at a time (`small_files`), fingerprints recorded with rows."""
        reader = session.group_reader(self.plan.mapper, self.plan.fingerprints)
        for group in prefetch(reader.groups(files)):
            session.load_group(group)
            record_files(self.conn, self.loaded.name, group.fingerprints, self.run_id)
            self.files += group.reports

    def record_cursors(self) -> None:
        """Phase 3: each API source's cursor moves with the rows it brought (a partition's window is fetched whole,
        with no cursor)."""
        if self.plan.partition is not None:
            return
        for api in self.plan.apis:
            if api.stats.max_cursor is not None:
                record_cursor(self.conn, self.loaded.name, cursor_key(api.source), api.stats.max_cursor, self.run_id)
