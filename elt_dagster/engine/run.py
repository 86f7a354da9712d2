"""One pipeline run, in three phases: plan what to read -> load each source -> commit the bookkeeping.

Everything is one streaming pass: a background thread reads, stages, validates and hashes the next batch while the
main thread copies the previous one into PostgreSQL, so Python's work and the database's overlap on two cores.
Only new or changed files are read; their fingerprints are recorded in the same transaction as their rows, and
API cursors move with the rows too. This is the code path of the Dagster assets, the CLI and the benchmark alike.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from elt_dagster.engine.config import LoadedConfig, column_rules, key_columns, order_column
from elt_dagster.engine.db import ConnectionLost, DatabaseError, connect, target_database_url
from elt_dagster.engine.load.loaders import Loader, choose_loader
from elt_dagster.engine.load.quarantine import quarantine
from elt_dagster.engine.load.tables import count_rows, ensure_tables, stored_types, table_columns, table_exists
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.prefetch import prefetch
from elt_dagster.engine.row_counts import RowCounts
from elt_dagster.engine.small_files import GroupReader, SourceCopy, largest_label, load_group, load_units
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
from elt_dagster.engine.staging import RunStaging, StagingWriter, prune_run_dirs, run_dir
from elt_dagster.engine.state.counts import add_to_row_count, current_row_count
from elt_dagster.engine.state.cursors import record_cursor, stored_cursors
from elt_dagster.engine.state.fingerprints import Fingerprint, files_to_read, record_files, stored_fingerprints
from elt_dagster.engine.state.schema import ensure_state_tables
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import pipeline_column_types

LOCK_TIMEOUT_ENV = "ELT_LOCK_TIMEOUT_SECONDS"
DEFAULT_LOCK_TIMEOUT_SECONDS = 3600.0


@dataclass
class RunReport(RowCounts):
    """Everything a run did, for logs, metadata and tests."""

    run_id: str
    column_types: dict[str, str] = field(default_factory=dict)
    staging_path: Path | None = None
    rejects_path: Path | None = None
    files: list[FileReport] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    unchanged_files: int = 0
    rows_valid: int = 0
    invalid: int = 0
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    row_count: int = 0
    table_schema: dict[str, str] = field(default_factory=dict)
    added_columns: tuple[str, ...] = ()
    strategy: str = "none"
    seconds: float = 0.0
    api_sources: list[dict[str, Any]] = field(default_factory=list)
    """Per API source: its URL (no credentials), pages, records and why paging stopped."""
    table_missing: bool = False
    """The table, loaded by earlier runs, was gone: every source was read again."""

    @property
    def duplicates(self) -> int:
        return self.rows_valid - self.inserted - self.updated


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
    loaded: LoadedConfig, run_id: str | None = None, database_url: str | None = None, full_refresh: bool = False
) -> RunReport:
    """Run the pipeline once: read new or changed files (all with `full_refresh`), validate, load."""
    started = time.perf_counter()
    report = RunReport(run_id=run_id or uuid.uuid4().hex)
    with database_errors():
        _run(loaded, report, target_database_url(loaded.config.target, database_url), full_refresh)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def database_errors() -> Iterator[None]:
    """A psycopg error as ConnectionLost (the server went away: run again) or DatabaseError (a refusal)."""
    try:
        yield
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError) and _connection_lost(exc):
            raise ConnectionLost(
                f"lost the connection to PostgreSQL during the run ({_first_line(exc)}); {_NOTHING}: run it again"
            ) from None
        where = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        raise DatabaseError(f"PostgreSQL refused the load{where}: {_first_line(exc)}; {_NOTHING}") from None


_NOTHING = "nothing of this run was committed"


_CONNECTION_STATES = {"08000", "08001", "08003", "08004", "08006", "08007"}
"""Class 08 but 08P01 (protocol violation): a broken message is a refusal, running again won't help."""


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether the server went away (no SQLSTATE, a connection error, or a shutdown 57P0x), not a refusal."""
    state = exc.sqlstate
    return state is None or state in _CONNECTION_STATES or state.startswith("57P")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run(loaded: LoadedConfig, report: RunReport, url: str, full_refresh: bool) -> None:
    with connect(url) as conn, RunStaging(run_dir(loaded.name, report.run_id)) as staging:
        lock_pipeline(conn, loaded.name)
        plan = plan_run(conn, loaded, staging.folder, full_refresh)
        report.skipped_files, report.unchanged_files = plan.skipped, plan.unchanged
        report.table_missing = plan.table_missing
        report.api_sources = [api.summary() for api in plan.apis]
        report.column_types = plan.column_types
        if plan.sources and plan.mapper.columns:
            staging.reserve(plan.incoming_bytes)
            TableLoad(conn, loaded, plan, report).run()
        else:
            report.row_count = current_row_count(conn, qualified_name(loaded.config.target))
            report.table_schema = table_columns(conn, loaded.config.target)
    if plan.sources:
        prune_run_dirs(loaded.name)


def lock_pipeline(conn: psycopg.Connection, pipeline: str) -> None:
    """One run of a pipeline at a time: a second one waits here, then sees the first one's fingerprints.

    A session lock, so no transaction stays open while the plan fetches API pages. The wait is bounded (env
    ELT_LOCK_TIMEOUT_SECONDS, default an hour): a run that hangs holding the lock fails the next one with a message
    instead of stalling it forever.
    """
    ensure_state_tables(conn)
    seconds = float(os.environ.get(LOCK_TIMEOUT_ENV) or DEFAULT_LOCK_TIMEOUT_SECONDS)
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(seconds * 1000)}ms")))
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext('elt.pipeline:' || %s))", (pipeline,))
    except psycopg.errors.LockNotAvailable:
        raise DatabaseError(
            f"another run of pipeline {pipeline!r} has held its lock for over {seconds:g} s (a long run, or one that "
            f"hangs: cancel it, or set {LOCK_TIMEOUT_ENV} to wait longer)"
        ) from None
    conn.execute("SET lock_timeout = 0")
    conn.commit()


def plan_run(conn: psycopg.Connection, loaded: LoadedConfig, folder: Path, full_refresh: bool) -> RunPlan:
    """Phase 1: the files that changed since their last load (stat, then content hash), and the API sources
    fetched from their remembered cursors. The state is read in a short transaction, ended before any fetch."""
    files, skipped = list_source_files(loaded)
    current = {str(f.path): Fingerprint.stat(f.path) for f in files}
    stored = stored_fingerprints(conn, loaded.name)
    # files and cursors recorded as loaded into a table that is gone (dropped by hand) are read again in full
    table_missing = bool(stored) and not table_exists(conn, loaded.config.target)
    full_refresh = full_refresh or table_missing
    cursors = {} if full_refresh else stored_cursors(conn, loaded.name)
    conn.commit()
    changed = {c.path for c in (current.values() if full_refresh else files_to_read(current.values(), stored))}
    todo = [f for f in files if str(f.path) in changed]
    apis = spool_api_sources(loaded, folder, cursors)
    mapper = new_mapper(loaded, todo + [api.file for api in apis if api.stats.records])
    types = pipeline_column_types(loaded, mapper.columns)
    fingerprints = {path: current[path] for path in changed}
    return RunPlan(todo, fingerprints, apis, mapper, types, len(files) - len(todo), skipped, table_missing)


class TableLoad:
    """Phases 2 and 3, in one transaction: load each planned source into the table, then commit the bookkeeping
    (loader finish, API cursors, quarantine, the row count). Owns the run's loader, staging files and counts."""

    def __init__(self, conn: psycopg.Connection, loaded: LoadedConfig, plan: RunPlan, report: RunReport):
        self.conn, self.loaded, self.plan, self.report = conn, loaded, plan, report
        self.target = loaded.config.target
        self.inserted = 0

    def run(self) -> None:
        folder = run_dir(self.loaded.name, self.report.run_id)
        with StagingWriter(folder, self.plan.mapper.columns) as staging, self.conn.transaction():
            self.report.staging_path, self.report.rejects_path = staging.staging_path, staging.rejects_path
            self.report.added_columns, created = ensure_tables(self.conn, self.target, self.plan.column_types)
            types = stored_types(self.conn, self.target, list(self.plan.column_types))
            run_id, largest = self.report.run_id, largest_label(self.plan.sources, self.plan.sizes)
            loader, self.report.strategy = choose_loader(
                self.conn, self.target, types, run_id, self.plan.incoming_bytes, created, largest
            )
            key = key_columns(self.target, self.plan.mapper.columns) if self.target.mode == "merge" else []
            order_column(self.target, self.plan.mapper.columns)  # a wrong order_by fails before a row is read
            checker = BatchChecker(self.plan.column_types, key, staging, rules=column_rules(self.loaded))
            for unit in load_units(self.plan.sources, self.plan.sizes):
                if isinstance(unit, list):
                    self.load_small_files(loader, unit, checker, staging)
                else:
                    self.load_source(loader, unit, checker, staging)
            self.commit_bookkeeping(loader, staging, created)

    def load_source(
        self, loader: Loader, source_file: SourceFile, checker: BatchChecker, staging: StagingWriter
    ) -> None:
        """Phase 2 for one source: stream it into the table; a local file's fingerprint is recorded with its rows."""
        fingerprint = self.plan.fingerprints.get(str(source_file.path))
        # hashed before it is read, checked after: a file rewritten meanwhile is not recorded, so read again
        before = fingerprint.with_content_hash() if fingerprint else None
        copy = SourceCopy(self.conn, loader, source_file.source_label, checker)
        file_report = read_file_with_fallback(source_file, self.plan.mapper, staging, copy)
        self.report.files.append(file_report)
        self.report.rows_valid += checker.tally.valid
        self.report.invalid += checker.tally.invalid
        self.inserted += copy.inserted
        if before is not None and Fingerprint.stat(source_file.path).same_stat(before):
            record_files(self.conn, self.loaded.name, [(before, file_report.rows)], self.report.run_id)

    def load_small_files(
        self, loader: Loader, files: list[SourceFile], checker: BatchChecker, staging: StagingWriter
    ) -> None:
        """Phase 2 for a run of small files: a group at a time (`small_files`), fingerprints recorded with rows."""
        reader = GroupReader(self.plan.mapper, staging, checker, loader, self.plan.fingerprints)
        for group in prefetch(reader.groups(files)):
            self.inserted += load_group(self.conn, loader, group)
            record_files(self.conn, self.loaded.name, group.fingerprints, self.report.run_id)
            self.report.files += group.reports
            self.report.rows_valid += group.valid
            self.report.invalid += group.invalid

    def commit_bookkeeping(self, loader: Loader, staging: StagingWriter, created: bool) -> None:
        """Phase 3: finish the load, move the API cursors, quarantine the rejects, update the row count."""
        for api in self.plan.apis:
            if api.stats.max_cursor is not None:
                key = cursor_key(api.source)
                record_cursor(self.conn, self.loaded.name, key, api.stats.max_cursor, self.report.run_id)
        self.report.inserted, self.report.updated = loader.finish(self.inserted)
        staging.flush()
        quarantine(self.conn, self.target, staging.rejects_path, self.report.run_id)
        self.report.first_rejects = list(staging.first_rejects)
        self.report.row_count = add_to_row_count(
            self.conn,
            qualified_name(self.target),
            self.report.inserted,
            lambda: count_rows(self.conn, self.target),
            created,
        )
        self.report.table_schema = table_columns(self.conn, self.target)
