"""WAL and disk bytes per row, for docs/scale.md: the bench's 1M-row file as a first load into a new table, then its
20%-duplicate file appended to that table (800k new rows through the unique row-hash index), each after a CHECKPOINT.

    .venv/bin/python bench/scale_wal.py [--wal-compression off|pglz|lz4|zstd]   (this embedded build: off, pglz)

A private embedded PostgreSQL in a temporary folder (the bench's own server is left alone); the bench's files are
generated first when missing. Prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate, generate_with_repeats
from run import DATA, pipeline_config

from elt_dagster.engine.db import embedded_database_url
from elt_dagster.engine.embedded import stop
from elt_dagster.engine.run import run_pipeline

SETTINGS = ("server_version", "wal_level", "full_page_writes", "wal_compression", "synchronous_commit", "max_wal_size")
TABLE = "scale_wal"


def measured_load(conn: psycopg.Connection, url: str, name: str, folder: Path) -> dict:
    """One pipeline run into TABLE after a checkpoint: its rows, seconds, WAL bytes and the table's sizes after it."""
    conn.execute("CHECKPOINT")
    before = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    started = time.perf_counter()
    report = run_pipeline(pipeline_config(f"{TABLE}_{name}", folder, TABLE), database_url=url)
    seconds = time.perf_counter() - started
    wal = int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (before,)).fetchone()[0])
    heap, total = conn.execute("SELECT pg_table_size(%s), pg_total_relation_size(%s)", (TABLE, TABLE)).fetchone()
    return {
        "inserted": report.inserted,
        "seconds": round(seconds, 2),
        "wal_bytes_per_inserted_row": round(wal / max(report.inserted, 1)),
        "table_bytes": heap,
        "index_bytes": total - heap,
        "strategy": report.strategy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wal-compression", default="off", help="the server's wal_compression for the loads")
    args = parser.parse_args()
    first = DATA / "orders_1000000"
    dup = DATA / "orders_1000000_dup"
    generate(first / "orders.csv", 1_000_000)
    generate_with_repeats(dup / "orders_dup.csv", first / "orders.csv", 1_000_000)
    scratch = Path(tempfile.mkdtemp(prefix="scale-wal-"))
    scratch.chmod(0o755)  # the embedded server's own user reaches its folder through this one
    os.environ["ELT_STATE_DIR"] = str(scratch / "state")  # staging files, as bench/run.py does
    folder = scratch / "postgres"
    url = embedded_database_url(folder)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER SYSTEM SET wal_compression = {}").format(sql.Literal(args.wal_compression)))
            conn.execute("SELECT pg_reload_conf()")
            results = {"settings": {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SETTINGS}}
            results["first_load"] = measured_load(conn, url, "first", first)
            results["append_800k_new_rows"] = measured_load(conn, url, "dup", dup)
    finally:
        stop(folder=folder)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
