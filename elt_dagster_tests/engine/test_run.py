"""A run's phases: planning holds no transaction open, and a source read again exactly counts once."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.db import DatabaseError, connect
from elt_dagster.engine.run import plan_run, run_pipeline
from elt_dagster.engine.staging import RunStaging, run_dir
from elt_dagster.engine.state.schema import ensure_state_tables
from elt_dagster_tests.conftest import fetch, write

CONFIG = """
sources:
  - type: local
    path: ../data
target:
  db_schema: {schema}
  table: items
schema:
  columns:
    id: integer
    name: string
"""


def test_plan_leaves_no_transaction_open(tmp_path: Path, make_pipeline, database_url: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = make_pipeline(CONFIG)
    with connect(database_url) as conn:
        ensure_state_tables(conn)
        plan = plan_run(conn, config, RunStaging(run_dir(config.name, "r1")), full_refresh=False)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert [f.path.name for f in plan.files] == ["a.csv"]
    assert plan.column_types == {"id": "integer", "name": "string"} and plan.sources


def test_a_file_read_again_exactly_counts_and_loads_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b,extra\n3,c\n")
    report = run_pipeline(make_pipeline(CONFIG))
    assert [(f.rows, f.malformed) for f in report.files] == [(2, 1)]
    assert (report.rows_valid, report.invalid, report.inserted, report.rejected) == (2, 0, 2, 1)
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".items ORDER BY id') == [(1,), (3,)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items__rejected') == [(1,)]


def test_nothing_new_keeps_the_row_count_and_schema(tmp_path: Path, make_pipeline, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = make_pipeline(CONFIG)
    first = run_pipeline(config)
    again = run_pipeline(config)
    assert (again.files, again.unchanged_files, again.row_count) == ([], 1, first.row_count)
    assert again.table_schema == first.table_schema and again.strategy == "none"


def test_a_run_waiting_on_a_hung_run_fails_with_a_message(
    tmp_path: Path, make_pipeline, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = make_pipeline(CONFIG)
    monkeypatch.setenv("ELT_LOCK_TIMEOUT_SECONDS", "1")
    with psycopg.connect(database_url, autocommit=True) as hung:
        hung.execute("SELECT pg_advisory_lock(hashtext('elt.pipeline:' || %s))", (config.name,))
        started = time.monotonic()
        with pytest.raises(DatabaseError, match=r"another run of pipeline 'orders' has held its lock for over 1 s"):
            run_pipeline(config)
        assert time.monotonic() - started < 30
    assert run_pipeline(config).inserted == 1  # the lock released, the next run goes ahead


def test_two_pipelines_creating_one_new_table_at_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    for name in ("one", "two"):
        write(tmp_path / name / "a.csv", "id,name\n" + "".join(f"{i},{name}\n" for i in range(500)))
    configs = [
        make_pipeline(CONFIG.replace("../data", f"../{name}").replace("{schema}", f"{db_schema}_new"), name=name)
        for name in ("one", "two")
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(run_pipeline, configs))
        assert [r.inserted for r in reports] == [500, 500]
        assert fetch(database_url, f'SELECT count(*), count(DISTINCT _elt_row_hash) FROM "{db_schema}_new".items') == [
            (1000, 1000)
        ]
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db_schema}_new" CASCADE')


def test_the_database_refusing_the_load_is_one_clear_error(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{db_schema}".items ADD CONSTRAINT small CHECK (id < 3)')
    write(tmp_path / "data" / "b.csv", "id,name\n3,c\n")
    with pytest.raises(DatabaseError, match=r"PostgreSQL refused the load \[23514\]: .*\"small\".*nothing of this run"):
        run_pipeline(config)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(2,)]


def test_a_connection_lost_mid_run_is_one_clear_error_and_a_rerun_loads_exactly(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n" + "".join(f"{i},n{i}\n" for i in range(200_000)))
    config = make_pipeline(CONFIG)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_pipeline, config)
        with psycopg.connect(database_url, autocommit=True) as admin:
            for _ in range(400):  # the run's session holds the pipeline's lock: end that backend mid-run
                pid = admin.execute(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = "
                    "hashtext('elt.pipeline:' || %s)::oid",
                    (config.name,),
                ).fetchone()
                if pid:
                    admin.execute("SELECT pg_terminate_backend(%s)", pid)
                    break
                time.sleep(0.01)
        with pytest.raises(DatabaseError, match=r"lost the connection to PostgreSQL during the run.*run it again"):
            running.result(timeout=120)
    assert run_pipeline(config).inserted == 200_000
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT id) FROM "{db_schema}".items') == [(200_000, 200_000)]


def test_a_table_dropped_by_hand_is_loaded_again_in_full(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Fingerprints say the file was loaded; the table is gone: the file is read again rather than never."""
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    config = make_pipeline(CONFIG)
    assert run_pipeline(config).inserted == 2
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{db_schema}".items')
    again = run_pipeline(config)
    assert (again.table_missing, again.inserted, again.unchanged_files, again.row_count) == (True, 2, 0, 2)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(2,)]
    assert run_pipeline(config).table_missing is False


def test_a_run_of_local_files_imports_no_http_client(tmp_path: Path, make_pipeline, database_url: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = make_pipeline(CONFIG)
    probe = (
        "import sys\nfrom elt_dagster.engine.config import load_config\nfrom elt_dagster.engine.run import run_pipeline\n"
        f"report = run_pipeline(load_config({str(config.path)!r}), database_url={database_url!r})\n"
        "print(report.inserted, 'requests' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["1", "False"]
