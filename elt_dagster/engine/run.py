"""One pipeline run: extract, validate and load in a single streaming pass, in one transaction.

A background thread reads, stages, validates and hashes the next batch while the main thread copies the
previous one into PostgreSQL, so Python's work and the database's overlap on two cores. Only new or changed
files are read (their fingerprints are recorded in the same transaction as their rows).
This is the code path of the Dagster assets, the CLI and the benchmark alike.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from elt_dagster.engine.config import LoadedConfig, key_columns
from elt_dagster.engine.db import connect, state_dir, target_database_url
from elt_dagster.engine.load.loaders import Loader, choose_loader
from elt_dagster.engine.load.quarantine import quarantine
from elt_dagster.engine.load.tables import count_rows, ensure_tables, table_columns
from elt_dagster.engine.sources.api.cursor import cursor_key
from elt_dagster.engine.sources.api.spool import spool_api_sources
from elt_dagster.engine.sources.files.extract import (
    ColumnMapper,
    FileReport,
    SourceFile,
    StagingWriter,
    list_source_files,
    new_mapper,
    read_file_with_fallback,
)
from elt_dagster.engine.state.files import (
    Fingerprint,
    add_to_row_count,
    ensure_state_tables,
    files_to_read,
    record_cursor,
    record_file,
    stored_cursors,
    stored_fingerprints,
)
from elt_dagster.engine.transform.validate import check_batch, pipeline_column_types

KEEP_RUN_DIRS = 3
PREFETCH_BATCHES = 2
T = TypeVar("T")


class _RowCounts:
    """Counts derived from the per-file reports (`files`) and the rows validation rejected (`invalid`)."""

    files: list[FileReport]
    invalid: int

    @property
    def rows_extracted(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)

    @property
    def rejected(self) -> int:
        return self.invalid + self.malformed


@dataclass
class RunReport(_RowCounts):
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

    @property
    def duplicates(self) -> int:
        return self.rows_valid - self.inserted - self.updated


def run_dir(pipeline: str, run_id: str) -> Path:
    """The folder for one run's staging files: `.elt/runs/<pipeline>/<run_id>`."""
    return state_dir() / "runs" / pipeline / run_id


def prune_run_dirs(pipeline: str, keep: int = KEEP_RUN_DIRS) -> None:
    """Delete all but the newest `keep` run folders of a pipeline (staging files can be large)."""
    root = state_dir() / "runs" / pipeline
    if root.is_dir():
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in folders[keep:]:
            shutil.rmtree(old, ignore_errors=True)


def prefetch(items: Iterable[T], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """Iterate `items` in a background thread, at most `depth` ahead; its exceptions are raised here."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("done", None))
        except BaseException as exc:
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, name="elt-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _incoming_bytes(files: list[SourceFile]) -> int:
    return sum(f.path.stat().st_size * (5 if f.path.name.lower().endswith(".gz") else 1) for f in files)


def run_pipeline(
    loaded: LoadedConfig, run_id: str | None = None, database_url: str | None = None, full_refresh: bool = False
) -> RunReport:
    """Run the pipeline once: read new or changed files (all with `full_refresh`), validate, load."""
    started = time.perf_counter()
    report = RunReport(run_id=run_id or uuid.uuid4().hex)
    files, report.skipped_files = list_source_files(loaded)
    target = loaded.config.target
    folder = run_dir(loaded.name, report.run_id)
    with connect(target_database_url(target, database_url)) as conn:
        ensure_state_tables(conn)
        # One run of a pipeline at a time: a second one waits, then sees the first one's fingerprints.
        conn.execute("SELECT pg_advisory_lock(hashtext('elt.pipeline:' || %s))", (loaded.name,))
        conn.commit()
        current = {str(f.path): Fingerprint.stat(f.path) for f in files}
        changed = (
            list(current.values())
            if full_refresh
            else files_to_read(current.values(), stored_fingerprints(conn, loaded.name))
        )
        todo = [f for f in files if str(f.path) in {c.path for c in changed}]
        report.unchanged_files = len(files) - len(todo)
        apis = spool_api_sources(loaded, folder, {} if full_refresh else stored_cursors(conn, loaded.name))
        todo += [api.file for api in apis]
        mapper = new_mapper(loaded, todo)
        report.column_types = pipeline_column_types(loaded, mapper.columns)
        if not todo or not mapper.columns:
            report.row_count = _current_count(conn, loaded)
            report.table_schema = table_columns(conn, target)
            report.seconds = time.perf_counter() - started
            return report
        with StagingWriter(folder, mapper.columns) as staging, conn.transaction():
            report.staging_path, report.rejects_path = staging.staging_path, staging.rejects_path
            report.added_columns = ensure_tables(conn, target, report.column_types)
            loader, report.strategy = choose_loader(conn, target, mapper.columns, report.run_id, _incoming_bytes(todo))
            key = key_columns(target, mapper.columns) if target.mode == "merge" else []
            inserted = 0
            for source_file in todo:
                local = str(source_file.path) in current
                # hashed before it is read, checked after: a file rewritten meanwhile is not recorded, so read again
                before = current[str(source_file.path)].with_content_hash() if local else None
                file_report, file_inserted = _load_file(conn, loader, source_file, mapper, report, key, staging)
                report.files.append(file_report)
                inserted += file_inserted
                if before is not None and Fingerprint.stat(source_file.path).same_stat(before):
                    record_file(conn, loaded.name, before, file_report.rows, report.run_id)
            for api in apis:
                if api.stats.max_cursor is not None:
                    record_cursor(conn, loaded.name, cursor_key(api.source), api.stats.max_cursor, report.run_id)
            report.inserted, report.updated = loader.finish(inserted)
            staging.flush()
            quarantine(conn, target, staging.rejects_path, report.run_id)
            report.first_rejects = list(staging.first_rejects)
            report.row_count = add_to_row_count(
                conn,
                loaded.name,
                f"{target.db_schema}.{target.table}",
                report.inserted,
                lambda: count_rows(conn, target),
            )
            report.table_schema = table_columns(conn, target)
    prune_run_dirs(loaded.name)
    report.seconds = time.perf_counter() - started
    return report


def _load_file(
    conn: psycopg.Connection,
    loader: Loader,
    source_file: SourceFile,
    mapper: ColumnMapper,
    report: RunReport,
    key: list[str],
    staging: StagingWriter,
) -> tuple[FileReport, int]:
    """Stream one file into the table inside a savepoint (a file read again exactly starts from scratch)."""
    totals = {"inserted": 0, "valid": 0, "invalid": 0}

    def consume(batches: Iterator[tuple[Any, int]]) -> None:
        totals.update(inserted=0, valid=0, invalid=0)

        def prepared() -> Iterator[Any]:
            for table, _malformed in batches:
                checked = check_batch(table, report.column_types, key)
                staging.write_rejects(checked.rejects)
                totals["invalid"] += len(checked.rejects)
                totals["valid"] += checked.rows.num_rows
                yield loader.prepare(checked.rows)

        with conn.transaction():
            totals["inserted"] = loader.load_file(source_file.source_label, prefetch(prepared()))

    file_report = read_file_with_fallback(source_file, mapper, staging, consume)
    report.rows_valid += totals["valid"]
    report.invalid += totals["invalid"]
    return file_report, totals["inserted"]


def _current_count(conn: psycopg.Connection, loaded: LoadedConfig) -> int:
    row = conn.execute("SELECT row_count FROM elt.table_counts WHERE pipeline = %s", (loaded.name,)).fetchone()
    return row[0] if row else 0


@dataclass
class CheckReport(_RowCounts):
    """A dry run: what validation would do to every source file, without touching the database."""

    column_types: dict[str, str]
    files: list[FileReport]
    rows_valid: int = 0
    invalid: int = 0
    first_rows: list[dict[str, Any]] = field(default_factory=list)
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
    staging_path: Path | None = None
    rejects_path: Path | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.column_types)


def check_pipeline(loaded: LoadedConfig, staging_dir: Path, keep_rows: int = 10) -> CheckReport:
    """Extract and validate every source (no database); keep the first `keep_rows` standardised rows."""
    files, _ = list_source_files(loaded)
    files += [api.file for api in spool_api_sources(loaded, staging_dir, {})]
    mapper = new_mapper(loaded, files)
    types = pipeline_column_types(loaded, mapper.columns)
    target = loaded.config.target
    key = key_columns(target, mapper.columns) if target.mode == "merge" else []
    report = CheckReport(types, [])
    with StagingWriter(staging_dir, mapper.columns) as staging:
        for source_file in files:
            kept: dict[str, Any] = {}

            def consume(batches: Iterator[tuple[Any, int]], kept: dict[str, Any] = kept) -> None:
                kept.update(valid=0, invalid=0, rows=[])  # from scratch when the file is read again
                for table, _malformed in batches:
                    checked = check_batch(table, types, key)
                    staging.write_rejects(checked.rejects)
                    kept["invalid"] += len(checked.rejects)
                    kept["valid"] += checked.rows.num_rows
                    room = keep_rows - len(report.first_rows) - len(kept["rows"])
                    if room > 0:
                        kept["rows"] += checked.rows.slice(0, room).to_pylist()

            report.files.append(read_file_with_fallback(source_file, mapper, staging, consume))
            report.invalid += kept["invalid"]
            report.rows_valid += kept["valid"]
            report.first_rows += kept["rows"]
        report.first_rejects = list(staging.first_rejects)
        report.staging_path, report.rejects_path = staging.staging_path, staging.rejects_path
    return report
