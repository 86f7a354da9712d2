"""The default instance: runs and event logs in PostgreSQL (dagster-postgres), one run per target table at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import DagsterInstance

from elt_dagster.definitions import build_definitions
from elt_dagster.orchestration.queueing import TARGET_TAG
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.deployment.conftest import ROOT
from elt_dagster_tests.webserver import cli_env

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def people(tmp_path: Path, db_schema: str, name: str = "people", table: str = "people", extra: str = "") -> Path:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    body = f"sources:\n  - path: ../data\ntarget:\n  table: {table}\n  db_schema: {db_schema}\n{extra}"
    write(tmp_path / "configs" / f"{name}.yaml", body)
    return tmp_path / "configs"


def test_the_repository_instance_settings_are_valid_and_queue_per_target(
    postgres_home: Path, instance_url: str
) -> None:
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert settings["storage"] == {
        "custom": {"module": "elt_dagster.orchestration.instance_storage", "class": "EltInstanceStorage"}
    }
    limit = settings["concurrency"]["runs"]["tag_concurrency_limits"][0]
    assert limit == {"key": TARGET_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    assert settings["run_retries"]["enabled"] and settings["run_monitoring"]["enabled"]
    os.environ["ELT_DAGSTER_STORAGE_URL"] = instance_url
    try:
        with DagsterInstance.from_config(str(postgres_home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    finally:
        del os.environ["ELT_DAGSTER_STORAGE_URL"]


def test_each_job_carries_its_target_tag_and_its_load_step_a_pool_per_database(tmp_path: Path, db_schema: str) -> None:
    people(tmp_path, db_schema)
    people(tmp_path, db_schema, "remote", "people", "  url: postgresql://u@db.example.com/warehouse\n")
    defs = build_definitions(tmp_path / "configs")
    assert defs.resolve_job_def("people_elt").tags[TARGET_TAG] == f"default.{db_schema}.people"
    assert defs.resolve_job_def("remote_elt").tags[TARGET_TAG] == f"warehouse.{db_schema}.people"
    step = defs.resolve_job_def("remote_elt").graph.node_defs[0]
    assert step.pool == "elt/warehouse"


def test_dagster_job_execute_stores_the_run_in_postgresql(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str
) -> None:
    configs = people(tmp_path, db_schema)
    env = {**cli_env(configs, tmp_path, database_url), "ELT_DAGSTER_STORAGE_URL": instance_url}
    assert env["DAGSTER_HOME"] == str(postgres_home)
    done = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "people_elt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".people') == [(2,)]
    with psycopg.connect(instance_url) as conn:
        runs = conn.execute("SELECT status, pipeline_name FROM runs").fetchall()
        tags = conn.execute("SELECT key, value FROM run_tags WHERE key = %s", (TARGET_TAG,)).fetchall()
    assert runs == [("SUCCESS", "people_elt")]
    assert tags == [(TARGET_TAG, f"default.{db_schema}.people")]
    assert not list(postgres_home.glob("**/*.db")), "nothing in SQLite files"


@pytest.mark.parametrize("command", [["status"], ["url"]])
def test_db_commands_start_report_and_stop_the_embedded_server(tmp_path: Path, command: list[str]) -> None:
    env = {**os.environ, "ELT_STATE_DIR": str(tmp_path / "state"), "PYTHONWARNINGS": "ignore"}
    env.pop("ELT_DATABASE_URL", None)
    cli = [str(Path(sys.executable).with_name("elt-dagster")), "db"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("status").returncode == 1
    started = run("start")
    assert started.returncode == 0 and "/dagster" in started.stdout, started.stderr
    try:
        assert run(*command).returncode == 0
        url = run("url", "--instance", "--show-password").stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("dagster",)
    finally:
        assert "stopped" in run("stop").stdout
    assert run("status").returncode == 1
