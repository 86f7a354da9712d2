"""Benchmark scenarios beyond the first load: `dagster job execute` (g), merge (h), increments (i), readers' waits
(j), 10M rows (k), many small files (l).

Each load is watched by a reader that counts the target table every 100 ms; its longest wait is (j).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from generate import generate_changed, generate_new_rows, generate_small_files

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import RunReport, run_pipeline

INCREMENT_ROWS = 10_000
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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


SMALL_FILES = (10_000, 100_000)
"""(l): runs of this many 3-row files into a new table."""


def small_files_run(url: str, folder: Path, columns: dict[str, str], files: int) -> dict:
    """(l): `files` files of 3 rows into a new table in one run: files per second, and the rows checked."""
    table = f"small_{uuid.uuid4().hex[:8]}"
    report = run_pipeline(config(folder, table, columns, name=f"{table}_l"), database_url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        rows, sources = conn.execute(f"SELECT count(*), count(DISTINCT _elt_source) FROM {table}").fetchone()
        own_file = "%s || '/f' || lpad(((id - 1) / 3)::text, 6, '0') || '.csv'"  # ids 1-3 in f000000.csv, ...
        own = conn.execute(f"SELECT count(*) FROM {table} WHERE _elt_source = {own_file}", (str(folder),)).fetchone()[0]
        conn.execute(f"DROP TABLE {table}, {table}__rejected")
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = %s", (f"{table}_l",))
    checks = {f"small_files_{files}_loaded": report.inserted == rows == own == 3 * files and sources == files}
    return {"files": files, "seconds": report.seconds, "files_per_second": files / report.seconds, "checks": checks}


def small_files(url: str, data: Path, columns: dict[str, str], counts: tuple[int, ...] = SMALL_FILES) -> dict:
    """(l) for each of `counts`: the files generated once (in `data`), then loaded in a fresh table."""
    runs = [small_files_run(url, generate_small_files(data / f"small_{n}", n), columns, n) for n in counts]
    checks = {key: value for run in runs for key, value in run.pop("checks").items()}
    return {"runs": runs, "checks": checks}


def small_files_lines(result: dict) -> list[str]:
    """(l) as report lines."""
    return [
        f"(l) {run['files']:,} files of 3 rows into a new table: {run['seconds']:.1f} s, "
        f"{run['files_per_second']:,.0f} files/s"
        for run in result["runs"]
    ]


def dagster_execute_vs_import(url: str, repeat: int) -> dict:
    """(g): wall time of `dagster job execute` on the sample pipeline against a bare `import dagster`.

    As the project installs (`pip install .`: no pandas) and, beside it, with pandas importable: this venv has it
    only for (e), and pyarrow imports pandas, when it can, on its first array built from Python values (~0.4 s).
    """

    def timed(args: list[str], env: dict[str, str]) -> float:
        started = time.perf_counter()
        subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started

    home = tempfile.mkdtemp(prefix="elt-bench-home-")  # one DAGSTER_HOME, as a user has: created by a warm-up run
    with_pandas = {
        **os.environ,
        "DAGSTER_HOME": home,
        "ELT_DATABASE_URL": url,
        "ELT_STATE_DIR": home,
        "PYTHONWARNINGS": "ignore",
    }
    hidden = Path(home) / "no-pandas"
    hidden.mkdir()
    (hidden / "pandas.py").write_text('raise ImportError("pandas is hidden from (g): the project does not need it")\n')
    as_installed = {**with_pandas, "PYTHONPATH": str(hidden)}
    try:
        job = [str(BIN / "dagster"), "job", "execute", "-m", "elt_dagster", "-j", "orders_elt"]
        timed(job, as_installed)
        imports, executes, executes_with_pandas = [], [], []
        for _ in range(repeat):
            for env, times in ((as_installed, executes), (with_pandas, executes_with_pandas)):
                with psycopg.connect(url, autocommit=True) as conn:  # each run reads the sample files again
                    conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = 'orders'")
                times.append(timed(job, env))
            imports.append(timed([sys.executable, "-c", "import dagster"], as_installed))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "import_dagster": statistics.median(imports),
        "job_execute": statistics.median(executes),
        "job_execute_with_pandas": statistics.median(executes_with_pandas),
    }
