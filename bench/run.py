"""The load benchmark: raw COPY against the pipeline, side by side, in one run on one embedded PostgreSQL.

    python3 dev.py bench [--rows 1000000] [--repeat 3] [--skip-naive] [--skip-10m] [--skip-100k-files]
    .venv/bin/python bench/run.py --only small-files     # (l) alone: bench/results/small_files.json
    .venv/bin/python bench/run.py --only history         # (n), (o) alone: bench/results/history.json
    .venv/bin/python bench/run.py --only sources         # (p), (q), (r) alone: bench/results/sources.json

Prints a table (rows/s, ratio to raw COPY, peak RSS) and writes bench/results/latest.json.
Ratios, not absolute times, are the claims: the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import COLUMNS, generate, generate_with_repeats
from history import history, history_lines
from scenarios import (
    SMALL_FILES,
    dagster_execute_vs_import,
    merge_run,
    small_files,
    small_files_lines,
    ten_million,
    watched_run,
)
from sources import sources, sources_lines
from users import as_users_see_it, users_lines

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.db import embedded_database_url
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.types import TYPES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"


def pipeline_config(name: str, folder: Path, table: str):
    columns = "\n".join(f"    {column}: {type_name}" for column, type_name in COLUMNS.items())
    text = f"sources:\n  - type: local\n    path: {folder}\ntarget:\n  table: {table}\nschema:\n  columns:\n{columns}\n"
    return parse_config(text, DATA / f"{name}.yaml")


def quiet_database(url: str) -> None:
    """No checkpoint in the middle of a measurement: big WAL allowance, and a checkpoint before each one."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CHECKPOINT")


def raw_copy(url: str, csv_path: Path) -> float:
    """(a): COPY FROM STDIN of the CSV into a fresh plain typed table: the limit."""
    table = f"raw_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(f"{name} {TYPES[type_name].pg_type}" for name, type_name in COLUMNS.items())
    quiet_database(url)
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE {table} ({columns})")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)") as copy, csv_path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute(f"DROP TABLE {table}")
    return seconds


def pipeline_runs(url: str, folder: Path, dup_folder: Path, rows: int, watch: bool = False) -> dict:
    """(b), (c), (d) into one fresh table, through run_pipeline: the code path of the Dagster assets."""
    table = f"bench_{uuid.uuid4().hex[:8]}"
    quiet_database(url)
    first, wait_b = watched_run(url, pipeline_config(f"{table}_b", folder, table), table, watch)
    again = run_pipeline(pipeline_config(f"{table}_b", folder, table), database_url=url)
    dups, wait_d = watched_run(url, pipeline_config(f"{table}_d", dup_folder, table), table, watch)
    repeats = int(rows * 0.2)
    checks = {
        "first_load_inserted_all": first.inserted == rows,
        "rerun_inserted_nothing": again.inserted == 0,
        "dup_file_inserted_only_new": dups.inserted == rows - repeats and dups.duplicates == repeats,
    }
    with psycopg.connect(url) as conn:
        count = conn.execute(f"SELECT count(*), count(DISTINCT _elt_row_hash) FROM {table}").fetchone()
        checks["table_rows_distinct"] = count == (2 * rows - repeats, 2 * rows - repeats)
        conn.execute(f"DROP TABLE {table}, {table}__rejected")
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline LIKE %s", (f"{table}%",))
        conn.execute("DELETE FROM elt.table_row_counts WHERE table_name LIKE %s", (f"%.{table}",))
    return {
        "b": first.seconds,
        "c": again.seconds,
        "d": dups.seconds,
        "j_b": wait_b,
        "j_d": wait_d,
        "strategies": [first.strategy, dups.strategy],
        "checks": checks,
    }


def naive(url: str, csv_path: Path) -> float:
    """(e): the original design's way: pandas read_csv, a per-row hashlib hash, DataFrame.to_sql."""
    import hashlib

    import pandas as pd
    from sqlalchemy import create_engine

    started = time.perf_counter()
    frame = pd.read_csv(csv_path)
    frame["row_hash"] = frame.apply(lambda row: hashlib.sha256(str(tuple(row)).encode()).hexdigest(), axis=1)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    frame.to_sql(f"naive_{uuid.uuid4().hex[:8]}", engine, if_exists="replace", index=False)
    return time.perf_counter() - started


def peak_rss_mb(url: str, folder: Path) -> float:
    """(f): peak RSS of a first load, measured by the loading process itself (MB)."""
    code = f"""
import sys, uuid
from pathlib import Path
sys.path.insert(0, "bench")
import psycopg
from run import pipeline_config
from elt_dagster.engine.run import run_pipeline
table = "rss_" + uuid.uuid4().hex[:8]
report = run_pipeline(pipeline_config(table, Path({str(folder)!r}), table), database_url={url!r})
with psycopg.connect({url!r}, autocommit=True) as conn:
    conn.execute(f"DROP TABLE {{table}}, {{table}}__rejected")
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(report.inserted, peak_kb)
"""
    env = {**os.environ, "ELT_STATE_DIR": tempfile.mkdtemp(prefix="elt-bench-state-")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, env=env, capture_output=True, text=True
        )
    finally:
        shutil.rmtree(env["ELT_STATE_DIR"], ignore_errors=True)
    inserted, max_rss_kb = done.stdout.split()[-2:]
    if int(inserted) <= 0:
        raise RuntimeError(f"the memory run loaded nothing from {folder}")
    return int(max_rss_kb) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true", help="skip (e), which takes minutes")
    parser.add_argument("--skip-10m", action="store_true", help="skip the 10M-row memory run")
    parser.add_argument("--skip-100k-files", action="store_true", help="(l) with 10,000 files only, not 100,000")
    parser.add_argument(
        "--only",
        choices=["small-files", "users", "history", "sources"],
        help="run only this line: (l) many 3-row files, (m) as users see it, (n) scd2 and (o) snapshot deletes, "
        "(p) Parquet, (q) a CSV object and (r) a big object's memory",
    )
    parser.add_argument("--big-gb", type=float, default=2.0, help="--only sources: the size of (r)'s object")
    args = parser.parse_args()
    counts = SMALL_FILES[:1] if args.skip_100k_files else SMALL_FILES
    if args.only == "small-files":
        return only_small_files(counts)
    if args.only == "users":
        return only_users(args.rows, args.repeat)
    if args.only == "history":
        return only_history(args.rows, args.repeat)
    if args.only == "sources":
        return only_sources(args.rows, args.repeat, args.big_gb)

    rows = args.rows
    folder = DATA / f"orders_{rows}"
    csv_path = generate(folder / "orders.csv", rows)
    dup_folder = DATA / f"orders_{rows}_dup"
    generate_with_repeats(dup_folder / "orders_dup.csv", csv_path, rows)
    url = embedded_database_url(DATA / "postgres")
    # every run's staging files (a 10M-row load stages ~1.5 GB) go to a folder removed at the end
    state = tempfile.mkdtemp(prefix="elt-bench-state-")
    os.environ["ELT_STATE_DIR"] = state
    try:
        raw = statistics.median(raw_copy(url, csv_path) for _ in range(args.repeat))
        runs = [pipeline_runs(url, folder, dup_folder, rows) for _ in range(args.repeat)]
        watched = pipeline_runs(url, folder, dup_folder, rows, watch=True)  # (j): one more pass, with a reader
        b = statistics.median(r["b"] for r in runs)
        c = statistics.median(r["c"] for r in runs)
        d = statistics.median(r["d"] for r in runs)
        merges = [merge_run(url, folder, csv_path, COLUMNS, rows) for _ in range(args.repeat)]
        watched_merge = merge_run(url, folder, csv_path, COLUMNS, rows, watch=True)
        results: dict = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "rows": rows,
            "seconds": {
                "a_raw_copy": raw,
                "b_first_load": b,
                "c_rerun_unchanged": c,
                "d_twenty_percent_dups": d,
                "h_merge_twenty_percent_changed": statistics.median(m["h"] for m in merges),
            },
            "reader_longest_wait": {
                "b": watched["j_b"],
                "d": watched["j_d"],
                "h": watched_merge["j_h"],
            },
            "strategies": runs[0]["strategies"],
            "checks": {k: all(r["checks"][k] for r in runs) for k in runs[0]["checks"]},
        }
        results["checks"] |= {k: all(m["checks"][k] for m in merges) for k in merges[0]["checks"]}
        if not args.skip_naive:
            results["seconds"]["e_naive_pandas_to_sql"] = naive(url, csv_path)
        results["peak_rss_mb"] = {f"{rows:,} rows": peak_rss_mb(url, folder)}
        if not args.skip_10m:
            big = DATA / "orders_10000000"
            generate(big / "orders.csv", 10_000_000)
            results["peak_rss_mb"]["10,000,000 rows"] = peak_rss_mb(url, big)
            big_runs = ten_million(url, big, COLUMNS, raw_copy)
            results["checks"] |= big_runs.pop("checks")
            results["reader_longest_wait"]["i"] = big_runs.pop("j_i")
            results["ten_million"] = big_runs
        results["dagster"] = dagster_execute_vs_import(url, args.repeat)
        results["users"] = as_users_see_it(url, folder, csv_path, COLUMNS, raw_copy, args.repeat)
        results["checks"] |= results["users"]["checks"]
        results["small_files"] = small_files(url, DATA, COLUMNS, counts)
        results["checks"] |= results["small_files"].pop("checks")
    finally:
        shutil.rmtree(state, ignore_errors=True)
        with psycopg.connect(url, autocommit=True) as conn:  # give the WAL allowance back, and the disk space with it
            conn.execute("ALTER SYSTEM RESET max_wal_size")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CHECKPOINT")
    report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    return 0 if all(results["checks"].values()) else 1


def report(results: dict) -> None:
    rows, seconds = results["rows"], results["seconds"]
    raw = seconds["a_raw_copy"]
    labels = {
        "a_raw_copy": "(a) raw COPY (the limit)",
        "b_first_load": "(b) pipeline, first load",
        "c_rerun_unchanged": "(c) re-run, nothing changed",
        "d_twenty_percent_dups": "(d) 20%-duplicate file",
        "e_naive_pandas_to_sql": "(e) pandas + hashlib + to_sql",
        "h_merge_twenty_percent_changed": "(h) merge, 20% rows changed",
    }
    print(f"\n{rows:,} rows x {len(COLUMNS)} columns, median of runs; {results['machine']['cpus']} CPUs\n")
    print(f"{'':34} {'seconds':>8} {'rows/s':>10} {'vs (a)':>7}")
    for key, label in labels.items():
        if key in seconds:
            s = seconds[key]
            speed = f"{rows / s:,.0f}" if key != "c_rerun_unchanged" else "-"
            ratio = f"{raw / s:.2f}x" if key != "c_rerun_unchanged" else f"{s / seconds['b_first_load']:.1%} of (b)"
            print(f"{label:34} {s:8.2f} {speed:>10} {ratio:>7}")
    for key, value in results["peak_rss_mb"].items():
        print(f"(f) peak RSS, first load of {key:>16}: {value:6.0f} MB")
    if "ten_million" in results:
        k = results["ten_million"]
        print(
            f"(i) {10_000:,} new rows into 10M rows {k['i_big']:.2f} s vs into an empty table {k['i_empty']:.2f} s: "
            f"{k['i_big'] / k['i_empty']:.2f}x"
        )
        print(f"(k) 10M first load {k['k']:.1f} s vs raw COPY {k['k_raw']:.1f} s: {k['k_raw'] / k['k']:.2f}x")
    waits = ", ".join(f"({key}) {value:.2f} s" for key, value in results["reader_longest_wait"].items())
    print(f"(j) a reader's longest wait on a lock during {waits}")
    g = results["dagster"]
    print(
        f"(g) dagster job execute {g['job_execute']:.2f} s vs import dagster {g['import_dagster']:.2f} s: "
        f"{g['job_execute'] / g['import_dagster']:.2f}x (with pandas importable: "
        f"{g['job_execute_with_pandas'] / g['import_dagster']:.2f}x)"
    )
    print("\n".join(users_lines(results["users"])))
    print("\n".join(small_files_lines(results["small_files"])))
    print(f"strategies: {results['strategies']}; checks: {results['checks']}")


def only_small_files(counts: tuple[int, ...]) -> int:
    """(l) alone, written to bench/results/small_files.json."""
    url = embedded_database_url(DATA / "postgres")
    os.environ["ELT_STATE_DIR"] = state = tempfile.mkdtemp(prefix="elt-bench-state-")
    try:
        result = small_files(url, DATA, COLUMNS, counts)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("\n".join(small_files_lines(result)), f"\nchecks: {result['checks']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "small_files.json").write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


def only_users(rows: int, repeat: int) -> int:
    """(m) alone, written to bench/results/users.json."""
    folder = DATA / f"orders_{rows}"
    csv_path = generate(folder / "orders.csv", rows)
    url = embedded_database_url(DATA / "postgres")
    os.environ["ELT_STATE_DIR"] = state = tempfile.mkdtemp(prefix="elt-bench-state-")
    try:
        result = as_users_see_it(url, folder, csv_path, COLUMNS, raw_copy, repeat)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("\n".join(users_lines(result)), f"\nchecks: {result['checks']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "users.json").write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


def only_history(rows: int, repeat: int) -> int:
    """(n) and (o) alone (not in the full run), written to bench/results/history.json."""
    csv_path = generate(DATA / f"orders_{rows}" / "orders.csv", rows)
    url = embedded_database_url(DATA / "postgres")
    os.environ["ELT_STATE_DIR"] = state = tempfile.mkdtemp(prefix="elt-bench-state-")
    try:
        result = history(url, DATA, csv_path, COLUMNS, raw_copy, rows, repeat)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("\n".join(history_lines(result)), f"\nchecks: {result['checks']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "history.json").write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


def only_sources(rows: int, repeat: int, big_gb: float) -> int:
    """(p), (q) and (r) alone (not in the full run), written to bench/results/sources.json."""
    csv_path = generate(DATA / f"orders_{rows}" / "orders.csv", rows)
    url = embedded_database_url(DATA / "postgres")
    os.environ["ELT_STATE_DIR"] = state = tempfile.mkdtemp(prefix="elt-bench-state-")
    try:
        result = sources(url, DATA, csv_path, COLUMNS, raw_copy, rows, repeat, big_gb)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("\n".join(sources_lines(result)), f"\nchecks: {result['checks']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sources.json").write_text(json.dumps(result, indent=2))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
