"""`dagster job execute` by hand with only DAGSTER_HOME set: the repository's dagster.yaml stores the run in the
embedded server's `dagster` database (elt_dagster/orchestration/instance_storage.py), not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from elt_dagster.engine import embedded
from elt_dagster.engine.db import embedded_database_url
from elt_dagster_tests.conftest import fetch, write

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def test_dagster_job_execute_needs_only_dagster_home(
    tmp_path: Path, postgres_home: Path, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    write(
        tmp_path / "configs" / "people.yaml",
        f"sources:\n  - path: ../data\ntarget:\n  table: people\n  db_schema: {db_schema}\n",
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(postgres_home),
        "ELT_CONFIG_DIR": str(tmp_path / "configs"),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("ELT_DAGSTER_STORAGE_URL", None)
    command = [DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "people_elt"]
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".people') == [(2,)]
        server = embedded_database_url(tmp_path / "state" / "postgres")
        with psycopg.connect(embedded.with_database(server, embedded.INSTANCE_DATABASE)) as conn:
            assert conn.execute("SELECT status, pipeline_name FROM runs").fetchall() == [("SUCCESS", "people_elt")]
    finally:
        embedded.stop(folder=tmp_path / "state" / "postgres")
