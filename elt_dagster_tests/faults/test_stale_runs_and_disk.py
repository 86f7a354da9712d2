"""Fault suite: a run killed with kill -9 under `dagster job execute` with no daemon (SQLite instance storage this
time), and a staging folder whose disk is full or too small."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.staging import STAGING_FILE, StagingSpaceError, free_bytes, run_dir
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.deployment.conftest import ROOT
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.orchestration.test_stale_runs import (
    execute,
    failure_message,
    held_api,
    kill_9,
    slow_pipeline,
    started_run,
    status_of,
)
from elt_dagster_tests.pipelines import ITEMS_YAML
from elt_dagster_tests.webserver import cli_env

pytestmark = pytest.mark.faults


def test_kill_9_of_dagster_job_execute_with_sqlite_storage_is_failed_by_the_next_run(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with held_api(monkeypatch) as (server, release):
        env = cli_env(slow_pipeline(tmp_path, server, db_schema), tmp_path, database_url)
        shutil.copy(ROOT / "dagster.sqlite.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            with started_run(env, tmp_path, instance) as (process, killed):
                kill_9(process)
            assert status_of(instance, killed.run_id) == DagsterRunStatus.STARTED
            release.set()
            assert execute(env, tmp_path).returncode == 0
            assert status_of(instance, killed.run_id) == DagsterRunStatus.FAILURE
            assert "no longer exists" in failure_message(instance, killed.run_id)
            assert len(instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))) == 0
    record("stale runs", "kill -9 of dagster job execute, no daemon", "marked FAILURE by the next run")


def test_a_full_staging_disk_is_one_line_and_leaves_no_staging_files(
    tmp_path: Path, make_pipeline, db_schema: str, database_url: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    config = make_pipeline(ITEMS_YAML)
    folder = run_dir(config.name, "full")
    folder.mkdir(parents=True)
    (folder / STAGING_FILE).symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    with pytest.raises(StagingSpaceError) as raised:
        run_pipeline(config, run_id="full")
    message = str(raised.value)
    assert "\n" not in message and f"the disk of the staging folder {folder} is full" in message
    assert "needed" in message and "MB free" in message
    assert not folder.exists(), "the failed run's staging files are removed"
    assert run_pipeline(config).inserted == 2, "the next run is not blocked"
    record("staging disk", "ENOSPC writing the staging CSV", "one-line error, staging files removed, next run loads")


def test_sources_larger_than_the_free_space_are_refused_before_reading(
    tmp_path: Path, make_pipeline, db_schema: str, database_url: str
) -> None:
    huge = tmp_path / "data" / "a.csv.gz"  # sparse, all NULs: without the check it fails at once as a broken .gz
    huge.parent.mkdir()
    huge.touch()
    try:
        os.truncate(huge, free_bytes(tmp_path) // 5 + 10**9)
    except OSError as exc:
        pytest.skip(f"no sparse file of that size here: {exc}")
    config = make_pipeline(ITEMS_YAML + "  strict_mode: true\n")
    with pytest.raises(StagingSpaceError, match=r"^not enough disk space for the staging files in .* MB free; "):
        run_pipeline(config, run_id="big")
    assert not run_dir(config.name, "big").exists()
    assert fetch(database_url, "SELECT to_regclass(%s)", f"{db_schema}.items") == [(None,)]
    record("staging disk", "sources larger than the free space", "refused before reading, one line")
