"""A partitioned pipeline's run: each partition (a time window) read in full from its files and replaced in its own
transaction, beside the loads of other partitions of the same table.

A partition's rows become exactly its files' rows: unchanged rows stay, rows no longer in the files are deleted,
new ones inserted, its quarantine records replaced, all in one transaction (readers see the partition before or
after, never a mix, and never wait). Only the table's creation and a new column are done under the table's lock,
in a short transaction of their own; the load itself locks only its partition.
"""

from __future__ import annotations

import multiprocessing
import re
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.config.partitions import FileBatch, PartitionWindow
from elt_dagster.engine.db import connect, target_database_url
from elt_dagster.engine.load.session import LoadCounts
from elt_dagster.engine.load.tables import count_rows, ensure_tables, table_columns, table_exists, table_ident
from elt_dagster.engine.locks import database_errors, lock_pipeline
from elt_dagster.engine.names import PARTITION_COLUMN, PARTITION_KEY, REJECTED_SUFFIX, qualified_name
from elt_dagster.engine.run import LoadResult, RunPlan, RunReport, TableLoad, build_report
from elt_dagster.engine.sources.api.spool import spool_api_sources
from elt_dagster.engine.sources.files.extract import SourceFile, list_source_files, new_mapper
from elt_dagster.engine.staging import RunStaging, prune_run_dirs, run_dir
from elt_dagster.engine.state.counts import add_to_row_count, current_row_count
from elt_dagster.engine.state.fingerprints import Fingerprint, forget_files, stored_fingerprints
from elt_dagster.engine.state.partition_files import files_of
from elt_dagster.engine.transform.validate import pipeline_column_types

Partition = PartitionWindow | FileBatch
"""A time window, or a batch of files (`by: files`)."""


@dataclass
class PlacedFiles:
    """The local files of a partitioned pipeline by partition: those of one window, and those of none (with why)."""

    files: list[SourceFile]
    unplaced: list[str]
    skipped: list[str]


def place_files(loaded: LoadedConfig, window: PartitionWindow | None = None) -> PlacedFiles:
    """The files whose path date (`partitions.path_date`) falls in `window` (all placed files without one), and
    the files that belong to no partition: no date in the path, or a date outside `partitions.start`/`end`."""
    partitions = loaded.config.partitions
    if partitions is None:
        raise ValueError("not a partitioned pipeline")  # never expected: the callers check
    files, skipped = list_source_files(loaded)
    first, last = partitions.window()
    placed, unplaced = [], []
    dates = path_dates(loaded, [str(source_file.path) for source_file in files])
    for source_file in files:
        date = dates.get(str(source_file.path))
        if date is None:
            unplaced.append(f"{source_file.source_label} (no {partitions.path_date} date in its path)")
        elif date < first or (last is not None and date >= last):
            unplaced.append(f"{source_file.source_label} ({date:%Y-%m-%d %H:%M}: outside partitions.start/end)")
        elif window is None or window.contains(date):
            placed.append(source_file)
    return PlacedFiles(placed, unplaced, skipped)


def batch_files(conn: psycopg.Connection, loaded: LoadedConfig, key: str) -> PlacedFiles:
    """The files the sensor put in partition `key` (`by: files`) that are still there."""
    assigned = set(files_of(conn, loaded.name, key))
    conn.commit()
    files, skipped = list_source_files(loaded)
    return PlacedFiles([f for f in files if str(f.path) in assigned], [], skipped)


def path_dates(loaded: LoadedConfig, paths: list[str]) -> dict[str, datetime]:
    """The date in the path of each of `paths` (files of the local sources, present or gone) that has one: read in
    the path below its source's folder (the file's name, for a source that is one file)."""
    partitions = loaded.config.partitions
    if partitions is None:
        return {}
    roots = [s.resolved_path(loaded.base_dir) for s in loaded.config.sources if s.type == "local"]
    dates = {}
    for text in paths:
        path = Path(text)
        root = next((r for r in roots if path.is_relative_to(r) and path != r), None)
        date = partitions.date_in_path(path.relative_to(root) if root else Path(path.name))
        if date is not None:
            dates[text] = date
    return dates


def run_partitions(
    loaded: LoadedConfig, windows: list[Partition], run_id: str | None = None, database_url: str | None = None
) -> list[RunReport]:
    """Load the partitions, `workers` at a time, each in a process of its own with its own connection and
    transaction (one partition: in this process). A partition that fails leaves the others to finish; the first
    failure is raised once all have ended (the partitions loaded are kept: each is whole)."""
    run_id = run_id or uuid.uuid4().hex
    workers = min(loaded.config.worker_count, len(windows))
    if workers <= 1:
        outcomes: list[RunReport | BaseException] = []
        for window in windows:
            try:
                outcomes.append(run_partition(loaded, window, run_id, database_url))
            except Exception as exc:  # the next partitions still load; raised below
                outcomes.append(exc)
    else:
        # spawned, not forked: the parent holds threads and connections a fork would copy half-made
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_partition, loaded, window, run_id, database_url) for window in windows]
            wait(futures)
        outcomes = [future.exception() or future.result() for future in futures]
    failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
    if failed is not None:
        raise failed
    return [outcome for outcome in outcomes if isinstance(outcome, RunReport)]


def combined_report(reports: list[RunReport]) -> RunReport:
    """One report of a run's partitions (a backfill run may load several): counts summed, files and rejects of all,
    the table's figures as the last one left them; `partition` names the first and last."""
    if not reports:
        raise ValueError("no partitions")  # never expected: a partitioned run has at least one key
    if len(reports) == 1:
        return reports[0]
    last = reports[-1]
    strategies = sorted({r.strategy for r in reports})
    return replace(
        last,
        files=[f for r in reports for f in r.files],
        skipped_files=last.skipped_files,
        unchanged_files=sum(r.unchanged_files for r in reports),
        rows_valid=sum(r.rows_valid for r in reports),
        invalid=sum(r.invalid for r in reports),
        first_rejects=[reject for r in reports for reject in r.first_rejects][:5],
        inserted=sum(r.inserted for r in reports),
        updated=sum(r.updated for r in reports),
        deleted=sum(r.deleted for r in reports),
        superseded=sum(r.superseded for r in reports),
        flagged=sum(r.flagged for r in reports),
        partition_rows=sum(r.partition_rows for r in reports),
        added_columns=tuple(dict.fromkeys(c for r in reports for c in r.added_columns)),
        strategy=", ".join(strategies),
        strategy_reason="; ".join(f"{r.partition}: {r.strategy_reason}" for r in reports),
        seconds=sum(r.seconds for r in reports),
        api_sources=[api for r in reports for api in r.api_sources],
        partition=f"{reports[0].partition}...{last.partition}",
        unplaced_files=last.unplaced_files,
    )


def run_partition(
    loaded: LoadedConfig, window: Partition, run_id: str | None = None, database_url: str | None = None
) -> RunReport:
    """Load one partition: read every file of its window (and its API slices) or batch, replace its rows with
    theirs."""
    started = time.perf_counter()
    run_id = run_id or uuid.uuid4().hex
    url = target_database_url(loaded.config.target, database_url)
    folder = run_dir(f"{loaded.name}/{_folder_name(window.key)}", run_id)
    with database_errors(), connect(url) as conn, RunStaging(folder) as staging:
        lock_pipeline(conn, loaded.name, window.key)
        plan = plan_partition(conn, loaded, window, staging.folder)
        target = loaded.config.target
        if plan.sources and plan.mapper.columns:
            staging.reserve(plan.incoming_bytes)
            with conn.transaction():  # short: the table's lock is held only while it is created or altered
                added, _ = ensure_tables(conn, target, plan.column_types, partitioned=True)
            result = TableLoad(conn, loaded, plan, run_id, staging.folder).run()
            result.counts.added_columns = added
        else:
            result = LoadResult(empty_partition(conn, loaded, window.key), table_columns(conn, target))
        _forget_gone_files(conn, loaded, window)
        rows = _partition_rows(conn, loaded, window.key)
    prune_run_dirs(f"{loaded.name}/{_folder_name(window.key)}")
    return replace(build_report(run_id, plan, result, time.perf_counter() - started), partition_rows=rows)


def _partition_rows(conn: psycopg.Connection, loaded: LoadedConfig, key: str) -> int:
    """The partition's rows (counted on the unique index, which leads with the partition)."""
    target = loaded.config.target
    if not table_exists(conn, target):
        return 0
    query = sql.SQL(f"SELECT count(*) FROM {{}} WHERE {PARTITION_COLUMN} = %s").format(table_ident(target))
    return conn.execute(query, (key,)).fetchone()[0]


def plan_partition(conn: psycopg.Connection, loaded: LoadedConfig, window: Partition, folder: Path) -> RunPlan:
    """Every file of the window or batch (a partition is replaced as a whole, so all are read) and each API source's
    slice of a window (`{partition_start}` / `{partition_end}` in its params), fetched whole: no cursor."""
    if isinstance(window, FileBatch):
        placed, apis = batch_files(conn, loaded, window.key), []
    else:
        placed = place_files(loaded, window)
        values = {"partition_start": window.start.isoformat(), "partition_end": window.end.isoformat()}
        apis = spool_api_sources(loaded, folder, {}, values)
    fingerprints = {str(f.path): Fingerprint.stat(f.path) for f in placed.files}
    mapper = new_mapper(loaded, placed.files + [api.file for api in apis if api.stats.records])
    stored = table_columns(conn, loaded.config.target) if loaded.config.schema_ is None else {}
    types = pipeline_column_types(loaded, mapper.columns, mapper.found_types, stored)
    return RunPlan(
        placed.files, fingerprints, apis, mapper, types, 0, placed.skipped, partition=window, unplaced=placed.unplaced
    )


def empty_partition(conn: psycopg.Connection, loaded: LoadedConfig, key: str) -> LoadCounts:
    """A window with no files: the partition becomes empty (its rows and quarantine records removed)."""
    target = loaded.config.target
    name = qualified_name(target)
    if not table_exists(conn, target):
        return LoadCounts(row_count=current_row_count(conn, name))
    with conn.transaction():
        deleted = conn.execute(
            sql.SQL(f"DELETE FROM {{}} WHERE {PARTITION_COLUMN} = %s").format(table_ident(target)), (key,)
        ).rowcount
        conn.execute(
            sql.SQL(f"DELETE FROM {{}} WHERE {PARTITION_KEY} = %s").format(table_ident(target, REJECTED_SUFFIX)),
            (key,),
        )
        count = add_to_row_count(conn, name, -deleted, lambda: count_rows(conn, target))
    return LoadCounts(
        "partition-replace", "the window has no files: the partition emptied", deleted=deleted, row_count=count
    )


def _forget_gone_files(conn: psycopg.Connection, loaded: LoadedConfig, window: Partition) -> None:
    """The partition's recorded files that are gone no longer count (the sensor saw them go and asked for this
    run)."""
    with conn.transaction():
        gone = [path for path in stored_fingerprints(conn, loaded.name) if not Path(path).exists()]
        if isinstance(window, FileBatch):
            ours = set(files_of(conn, loaded.name, window.key))
            forget_files(conn, loaded.name, [path for path in gone if path in ours])
            return
        dates = path_dates(loaded, gone)
        forget_files(conn, loaded.name, [path for path, date in dates.items() if window.contains(date)])


def _folder_name(key: str) -> str:
    """A partition key as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)
