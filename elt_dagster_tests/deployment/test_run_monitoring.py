"""Run monitoring on one machine (`LocalRunLauncher`): a run killed mid-load with the daemon that launched it and
its code server (kill -9 of the daemon's process group, as when `dagster dev` dies) is marked failed by the next
daemon's run monitoring, retried by run retries, and the table ends with the rows of one load."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from elt_dagster.orchestration.launcher import LAUNCHED_ON_TAG, run_worker
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.deployment.test_separate_processes import base_env, client
from elt_dagster_tests.webserver import running_process, running_webserver

DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
ROWS = 600_000
BAD_EVERY = 100_000
"""Every so many rows, an id that is not an integer: a reject for the quarantine."""
WAIT_SECONDS = 120
POOL = "elt/default"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], log: Path, seconds: float = WAIT_SECONDS) -> T:
    """The first true value of `probe`, polled for at most `seconds`; else fail saying `what` and the log's tail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {seconds} s; {log.name} ends with:\n{log.read_text()[-3000:]}")


def items(tmp_path: Path, db_schema: str) -> None:
    """Pipeline `items`: one CSV of ROWS rows into <db_schema>.items. Its window ended long ago, so its source
    sensor launches nothing: the only runs are the test's and the retry."""
    lines = "".join(f"{'x' if i % BAD_EVERY == 0 else i},name {i}\n" for i in range(ROWS))
    write(tmp_path / "data" / "items.csv", "id,name\n" + lines)
    body = f"sources:\n  - path: ../data\ntarget:\n  table: items\n  db_schema: {db_schema}\n"
    body += "schema:\n  columns:\n    id: integer\n    name: string\nend_time: '2000-01-01 00:00'\n"
    write(tmp_path / "configs" / "items.yaml", body)


def quick_monitoring(home: Path) -> None:
    """The repository's instance settings, with run monitoring looking every 2 s instead of every 30 s and freeing a
    dead run's pool slot after 1 s instead of 60 s."""
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    settings["run_monitoring"].update(poll_interval_seconds=2, free_slots_after_run_end_seconds=1)
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))


def copying_into(database_url: str, db_schema: str) -> bool:
    """Whether a session is inside a load of <db_schema>.items (its last statement a COPY into it, uncommitted)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE state IN ('active', 'idle in transaction') "
            "AND query ILIKE 'COPY%%' AND query LIKE %s",
            (f'%"{db_schema}"."items"%',),
        ).fetchone()[0]


def pool_users(instance: DagsterInstance) -> set[str]:
    """The runs holding a slot of the load steps' pool."""
    return instance.event_log_storage.get_concurrency_info(POOL).active_run_ids


def retry_of(instance: DagsterInstance, run_id: str) -> DagsterRun | None:
    """The run launched to retry `run_id`, once it has finished."""
    runs = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
    return runs[0] if runs and runs[0].is_finished else None


def test_a_run_killed_mid_load_is_marked_failed_by_run_monitoring_then_retried_once(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str, monkeypatch
) -> None:
    items(tmp_path, db_schema)
    quick_monitoring(postgres_home)
    env = base_env(tmp_path, instance_url, database_url)
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    daemon = [DAEMON, "run", "-m", "elt_dagster"]  # launches runs on a code server of its own, in its process group
    first_log, second_log = tmp_path / "daemon1.log", tmp_path / "daemon2.log"
    with (
        DagsterInstance.from_config(str(postgres_home)) as instance,
        running_webserver(env, tmp_path, tmp_path / "webserver.log") as base,
    ):
        run_id = client(base).submit_job_execution("items_elt")
        with running_process(daemon, env, tmp_path, first_log) as first:
            wait_for("COPY into the table", lambda: copying_into(database_url, db_schema), first_log)
            pid, _ = wait_for("pid of the run's process", lambda: run_worker(instance, run_id), first_log)
            os.killpg(first.pid, signal.SIGKILL)  # the daemon, its code server and the run's process
            first.wait(timeout=30)
        killed = instance.get_run_by_id(run_id)
        assert killed and killed.status == DagsterRunStatus.STARTED, "the run ended before the kill: more rows"
        assert killed.tags[LAUNCHED_ON_TAG] and run_id in pool_users(instance), "the dead step holds its pool slot"
        no_table = fetch(database_url, "SELECT to_regclass(%s)", f"{db_schema}.items")
        assert no_table == [(None,)], "nothing of the killed load was committed"
        with running_process(daemon, env, tmp_path, second_log):
            failure = wait_for("failure", lambda: instance.all_logs(run_id, DagsterEventType.RUN_FAILURE), second_log)
            retry = wait_for("finished retry", lambda: retry_of(instance, run_id), second_log)
            wait_for("freed pool slot", lambda: run_id not in pool_users(instance), second_log)
        assert len(instance.get_runs(RunsFilter(tags={"dagster/root_run_id": run_id}))) == 1, "one retry"
    assert f"Detected run worker status FAILED: 'the run's process {pid} no longer exists" in failure[0].message
    assert retry.status == DagsterRunStatus.SUCCESS, second_log.read_text()[-3000:]
    assert retry.tags["dagster/root_run_id"] == run_id and retry.tags["dagster/retry_number"] == "1"
    loaded = fetch(
        database_url,
        f'SELECT count(*), count(DISTINCT _elt_row_hash), min(_elt_run_id), max(_elt_run_id) FROM "{db_schema}".items',
    )
    good = ROWS - ROWS // BAD_EVERY
    assert loaded == [(good, good, retry.run_id, retry.run_id)]
    rejects = fetch(database_url, f'SELECT count(*), min(run_id), max(run_id) FROM "{db_schema}".items__rejected')
    assert rejects == [(ROWS // BAD_EVERY, retry.run_id, retry.run_id)]
