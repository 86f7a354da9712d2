"""(m) The first load as users see it: the step time of `dagster job execute`, against raw COPY, in one run.

    .venv/bin/python bench/run.py --only users [--repeat 3]

Each pass, interleaved: raw COPY of the CSV (a); the engine alone (`run_pipeline`, as (b)) into a fresh table; then
`dagster job execute` of the same pipeline into another fresh table, its step's time read from Dagster's log line
("Finished execution of step ... in 2.31s"), the job's wall time beside it; then the same job again with nothing
changed: the no-op step. Dagster's instance storage is PostgreSQL, as `python3 dev.py` sets it up (a database of
the benchmark's server). A checkpoint precedes each measurement, and the engine's table is dropped before the job
runs. A warm-up pass runs first (it creates Dagster's tables); the medians are of the passes after it.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIPELINE = "bench_users"
STEP_LINE = re.compile(r'Finished execution of step "' + PIPELINE + r'_elt_step" in ([\d.]+)(ms|s|m)\b')


def pipeline_yaml(folder: Path, table: str, columns: dict[str, str]) -> str:
    declared = "\n".join(f"    {column}: {type_name}" for column, type_name in columns.items())
    return (
        f"sources:\n  - type: local\n    path: {folder}\ntarget:\n  table: {table}\nschema:\n  columns:\n{declared}\n"
    )


def step_seconds(output: str) -> float:
    """The ELT step's time from Dagster's log line."""
    found = STEP_LINE.search(output)
    if found is None:
        raise RuntimeError(f"no step time in the job's output:\n{output[-3000:]}")
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def storage_url(url: str) -> str:
    """A `dagster_bench` database on the benchmark's server (created once) for Dagster's instance storage."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dagster_bench'").fetchone():
            conn.execute("CREATE DATABASE dagster_bench")
    return urlunsplit(urlsplit(url)._replace(path="/dagster_bench"))


def drop(url: str, table: str, pipeline: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}, {table}__rejected")
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = %s", (pipeline,))
        conn.execute("DELETE FROM elt.table_row_counts WHERE table_name = %s", (f"public.{table}",))


def checkpoint(url: str) -> None:
    """No checkpoint, nor the last load's autovacuum, inside the next measurement."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def as_users_see_it(url: str, folder: Path, csv_path: Path, columns: dict[str, str], raw_copy, repeat: int) -> dict:
    """(m): see the module docstring. Returns the medians, every pass's figures and the checks."""
    home = Path(tempfile.mkdtemp(prefix="elt-bench-users-"))
    configs = home / "configs"
    configs.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ELT_DAGSTER_STORAGE_URL": storage_url(url),
        "ELT_DATABASE_URL": url,
        "ELT_CONFIG_DIR": str(configs),
        "ELT_STATE_DIR": str(home / "state"),
        "PYTHONWARNINGS": "ignore",
    }
    job = [str(BIN / "dagster"), "job", "execute", "-m", "elt_dagster", "-j", f"{PIPELINE}_elt"]

    def execute() -> tuple[float, float]:
        started = time.perf_counter()
        done = subprocess.run(job, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"dagster job execute failed:\n{done.stderr[-3000:]}")
        return step_seconds(done.stdout + done.stderr), wall

    passes, checks = [], {"users_first_load_rows": True}
    try:
        for index in range(repeat + 1):
            raw = raw_copy(url, csv_path)
            engine_table, job_table = f"eng_{uuid.uuid4().hex[:8]}", f"job_{uuid.uuid4().hex[:8]}"
            checkpoint(url)
            engine = run_pipeline(
                parse_config(pipeline_yaml(folder, engine_table, columns), home / f"{engine_table}.yaml"),
                database_url=url,
            )
            drop(url, engine_table, engine_table)  # before the job: no autovacuum of it, no checkpoint, mid-step
            checkpoint(url)
            (configs / f"{PIPELINE}.yaml").write_text(pipeline_yaml(folder, job_table, columns))
            step, wall = execute()
            noop_step, noop_wall = execute()
            with psycopg.connect(url) as conn:
                loaded = conn.execute(f"SELECT count(*) FROM {job_table}").fetchone()[0]
            checks["users_first_load_rows"] &= loaded == engine.inserted > 0
            drop(url, job_table, PIPELINE)
            if index:  # the first pass warmed Dagster's storage up
                passes.append(
                    {"raw": raw, "engine": engine.seconds, "step": step, "wall": wall, "noop_step": noop_step}
                    | {"noop_wall": noop_wall}
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    medians = {key: statistics.median(p[key] for p in passes) for key in passes[0]}
    return {"medians": medians, "passes": passes, "checks": checks}


def users_lines(result: dict) -> list[str]:
    """(m) as printed by the benchmark."""
    m = result["medians"]
    ratios = [(p["raw"] / p["engine"], p["raw"] / p["step"]) for p in result["passes"]]
    return [
        f"(m) first load as users see it: raw COPY {m['raw']:.2f} s; engine {m['engine']:.2f} s "
        f"({m['raw'] / m['engine']:.2f}x); dagster job execute: step {m['step']:.2f} s ({m['raw'] / m['step']:.2f}x), "
        f"wall {m['wall']:.2f} s",
        "    per pass (engine, step vs raw COPY): " + ", ".join(f"{e:.2f}x/{s:.2f}x" for e, s in ratios),
        f"(m) no-op run (nothing changed): step {m['noop_step']:.2f} s, wall {m['noop_wall']:.2f} s",
    ]
