"""Benchmark scenarios beyond the first load: merge (h), increments (i), readers' waits (j), 10M rows (k).

Each load is watched by a reader that counts the target table every 100 ms; its longest wait is (j).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path

import psycopg
from generate import generate_changed, generate_new_rows

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import RunReport, run_pipeline

INCREMENT_ROWS = 10_000


class Reader(threading.Thread):
    """Counts `table` every 100 ms from its own connection, with a 100 ms lock timeout.

    `longest` is the longest time it was kept from counting by a lock (counts retried until one gets through);
    `slowest` is the slowest count that went through (the machine's load shows there too, blocked or not).
    """

    def __init__(self, url: str, table: str):
        super().__init__(daemon=True)
        self.url, self.table, self.longest, self.slowest = url, table, 0.0, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '100ms'")
            while not self.done.is_set():
                blocked_since = None
                while not self.done.is_set():
                    started = time.monotonic()
                    try:
                        with contextlib.suppress(psycopg.errors.UndefinedTable):  # a first load: there at its commit
                            conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()
                    except psycopg.errors.LockNotAvailable:
                        blocked_since = blocked_since or started
                        self.longest = max(self.longest, time.monotonic() - blocked_since)
                        continue
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    break
                self.done.wait(0.1)

    def __enter__(self) -> Reader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join(timeout=60)


def config(folder: Path, table: str, columns: dict[str, str], merge: bool = False, name: str | None = None):
    """A pipeline over `folder` into `table` (merge on `id` when asked)."""
    declared = "\n".join(f"    {column}: {type_name}" for column, type_name in columns.items())
    mode = "  mode: merge\n  primary_key: [id]\n" if merge else ""
    text = f"sources:\n  - path: {folder}\ntarget:\n  table: {table}\n{mode}schema:\n  columns:\n{declared}\n"
    return parse_config(text, folder.parent / f"{name or table}.yaml")


def watched_run(url: str, loaded, table: str, watch: bool = True) -> tuple[RunReport, float]:
    """Run the pipeline, while a reader counts `table` when `watch`: the report and the reader's longest wait.

    Timed runs are not watched: the reader's counts take a core of the two, and the load would be timed on one.
    """
    if not watch:
        return run_pipeline(loaded, database_url=url), 0.0
    with Reader(url, table) as reader:
        report = run_pipeline(loaded, database_url=url)
    return report, reader.longest


def merge_run(url: str, folder: Path, csv_path: Path, columns: dict[str, str], rows: int, watch: bool = False) -> dict:
    """(h): the 1M table in merge mode, then the same rows with 20% changed, upserted."""
    table = f"merge_{uuid.uuid4().hex[:8]}"
    changed = generate_changed(folder.parent / f"{folder.name}_changed" / "orders_changed.csv", csv_path)
    first = run_pipeline(config(folder, table, columns, merge=True, name=f"{table}_first"), database_url=url)
    report, wait = watched_run(url, config(changed.parent, table, columns, merge=True, name=f"{table}_h"), table, watch)
    with psycopg.connect(url) as conn:
        updated = conn.execute(f"SELECT count(*) FROM {table} WHERE note = 'changed since'").fetchone()[0]
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute(f"DROP TABLE {table}, {table}__rejected")
        conn.commit()
    checks = {"merge_first_inserted_all": first.inserted == rows, "merge_updated_changed": report.updated == updated}
    checks["merge_inserted_none"] = report.inserted == 0 and total == rows
    return {"h": report.seconds, "j_h": wait, "checks": checks}


def increment_runs(url: str, big_folder: Path, columns: dict[str, str], big_table: str) -> dict:
    """(i): 10,000 new rows into the big table, against the same rows into an empty table; then another 10,000
    into the big table, watched by a reader (j)."""
    folder, watched = big_folder.parent / "increment", big_folder.parent / "increment_watched"
    generate_new_rows(folder / "increment.csv", INCREMENT_ROWS, first_id=50_000_000_000)
    generate_new_rows(watched / "increment.csv", INCREMENT_ROWS, first_id=60_000_000_000, seed=17)
    empty = f"inc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:  # an existing, empty table (not created by the run)
        run_pipeline(config(folder, empty, columns, name=f"{empty}_create"), database_url=url)
        conn.execute(f"TRUNCATE {empty}")
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = %s", (f"{empty}_create",))
    into_empty = run_pipeline(config(folder, empty, columns, name=f"{empty}_i"), database_url=url)
    into_big = run_pipeline(config(folder, big_table, columns, name=f"{big_table}_i"), database_url=url)
    _, wait = watched_run(url, config(watched, big_table, columns, name=f"{big_table}_j"), big_table)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {empty}, {empty}__rejected")
    checks = {"increment_inserted_all": into_big.inserted == into_empty.inserted == INCREMENT_ROWS}
    return {"i_empty": into_empty.seconds, "i_big": into_big.seconds, "j_i": wait, "checks": checks}


def ten_million(url: str, big_folder: Path, columns: dict[str, str], raw_copy) -> dict:
    """(k): the 10M-row first load against raw COPY of the 10M file; then (i) into that table."""
    table = f"big_{uuid.uuid4().hex[:8]}"
    raw = raw_copy(url, big_folder / "orders.csv")
    first = run_pipeline(config(big_folder, table, columns, name=f"{table}_k"), database_url=url)
    results = {"k_raw": raw, "k": first.seconds, "checks": {"ten_million_inserted_all": first.inserted == 10_000_000}}
    increments = increment_runs(url, big_folder, columns, table)
    results["checks"] |= increments.pop("checks")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}, {table}__rejected")
    return results | increments
