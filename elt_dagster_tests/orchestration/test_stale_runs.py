"""Runs whose process died with no daemon watching: a `dagster job execute` killed with kill -9 mid-run is marked
failed by the next run of the pipeline or by `elt-dagster runs cleanup`; runs whose process lives, runs of another
machine and runs with no process recorded are left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter, instance_for_test
from dagster._core.launcher import WorkerStatus

from elt_dagster.orchestration.launcher import LocalRunLauncher
from elt_dagster.orchestration.stale_runs import (
    HOST_TAG,
    PID_NAMESPACE_TAG,
    PID_STARTED_TAG,
    PID_TAG,
    fail_stale_runs,
    process_tags,
)
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.http_api import FakeApi, Reply, serving
from elt_dagster_tests.webserver import cli_env, running_process

DAGSTER = str(Path(sys.executable).with_name("dagster"))
CLI = str(Path(sys.executable).with_name("elt-dagster"))
WAIT_SECONDS = 120
POOL = "elt/default"
LAUNCHER = {"module": "elt_dagster.orchestration.launcher", "class": "LocalRunLauncher"}


@contextmanager
def held_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeApi, threading.Event]]:
    """An API whose /items answers only once the event is set: a run's step waits there, in its fetch."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    release = threading.Event()

    def answer(seen: object) -> Reply:
        release.wait(WAIT_SECONDS)
        return Reply([{"id": 1, "name": "a"}])

    with serving() as server:
        server.route("/items", answer)
        try:
            yield server, release
        finally:
            release.set()


def slow_pipeline(tmp_path: Path, server: FakeApi, db_schema: str) -> Path:
    """Pipeline `slow`: one API source (the held one) into <db_schema>.items; returns the config folder."""
    body = (
        f"sources:\n  - type: api\n    url: {server.url('/items')}\ntarget:\n  table: items\n  db_schema: {db_schema}\n"
    )
    write(tmp_path / "configs" / "slow.yaml", body)
    return tmp_path / "configs"


def wait_for_step(instance: DagsterInstance, process: subprocess.Popen, log: Path) -> DagsterRun:
    """The run of `dagster job execute` (`process`) once it is STARTED and its step has recorded the process."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for run in instance.get_runs(RunsFilter(job_name="slow_elt", statuses=[DagsterRunStatus.STARTED])):
            if run.tags.get(PID_TAG) == str(process.pid):
                return run
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no STARTED run with its process recorded; {log.name} ends with:\n{log.read_text()[-3000:]}")


@contextmanager
def started_run(
    env: dict[str, str], tmp_path: Path, instance: DagsterInstance
) -> Iterator[tuple[subprocess.Popen, DagsterRun]]:
    """`dagster job execute -j slow_elt` in the background, once its run has started and its step waits on the API."""
    log = tmp_path / "execute.log"
    with running_process([DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "slow_elt"], env, tmp_path, log) as run:
        yield run, wait_for_step(instance, run, log)


def kill_9(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def status_of(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def failure_message(instance: DagsterInstance, run_id: str) -> str:
    failures = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    assert len(failures) == 1
    return failures[0].message


def execute(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = [DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "slow_elt"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS)


def cleanup(env: dict[str, str], tmp_path: Path) -> str:
    done = subprocess.run([CLI, "runs", "cleanup"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow  # subprocesses or 10,000 files: in the full suite, not the quick tier
def test_a_run_killed_under_dagster_job_execute_is_marked_failed_by_the_next_run(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str, monkeypatch
) -> None:
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    with held_api(monkeypatch) as (server, release), DagsterInstance.from_config(str(postgres_home)) as instance:
        env = cli_env(slow_pipeline(tmp_path, server, db_schema), tmp_path, database_url)
        with started_run(env, tmp_path, instance) as (process, killed):
            kill_9(process)
        assert status_of(instance, killed.run_id) == DagsterRunStatus.STARTED, "no daemon: nothing else ends it"
        assert killed.run_id in instance.event_log_storage.get_concurrency_info(POOL).active_run_ids
        release.set()
        done = execute(env, tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        after = instance.get_runs(RunsFilter(job_name="slow_elt"), limit=1)[0]
        assert status_of(instance, killed.run_id) == DagsterRunStatus.FAILURE
        message = failure_message(instance, killed.run_id)
        assert killed.run_id not in instance.event_log_storage.get_concurrency_info(POOL).active_run_ids
    assert f"the run's process {process.pid} on {socket.gethostname()} no longer exists" in message
    assert f"marked failed by run {after.run_id} of slow_elt" in message
    assert f"marked run {killed.run_id} of slow_elt failed" in done.stdout + done.stderr
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(1,)]


@pytest.mark.slow  # subprocesses or 10,000 files: in the full suite, not the quick tier
def test_runs_cleanup_leaves_a_live_run_alone_and_fails_it_once_killed(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str, monkeypatch
) -> None:
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    with held_api(monkeypatch) as (server, _), DagsterInstance.from_config(str(postgres_home)) as instance:
        env = cli_env(slow_pipeline(tmp_path, server, db_schema), tmp_path, database_url)
        with started_run(env, tmp_path, instance) as (process, run):
            assert "no run of this machine left running" in cleanup(env, tmp_path)
            assert status_of(instance, run.run_id) == DagsterRunStatus.STARTED and process.poll() is None
            kill_9(process)
        shown = cleanup(env, tmp_path)
        assert status_of(instance, run.run_id) == DagsterRunStatus.FAILURE
        assert "marked failed by `elt-dagster runs cleanup`" in failure_message(instance, run.run_id)
    assert shown == f"marked run {run.run_id} of slow_elt failed: its process {process.pid} no longer exists\n"


def dead_pid() -> tuple[int, float]:
    """The pid and start time of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; print(time.time())"], stdout=subprocess.PIPE)
    started = float(process.communicate()[0])
    return process.pid, started


def recorded(pid: int, started: float, **changes: str) -> dict[str, str]:
    return {**process_tags(), PID_TAG: str(pid), PID_STARTED_TAG: repr(started), **changes}


def test_only_runs_of_this_machine_whose_process_is_gone_are_failed() -> None:
    mine = process_tags()
    dead, dead_started = dead_pid()
    cases = {
        "dead": (recorded(dead, dead_started), DagsterRunStatus.FAILURE),
        "pid reused": (recorded(os.getpid(), float(mine[PID_STARTED_TAG]) - 3600), DagsterRunStatus.FAILURE),
        "alive": (mine, DagsterRunStatus.STARTED),
        "another machine": (recorded(dead, dead_started, **{HOST_TAG: "elsewhere"}), DagsterRunStatus.STARTED),
        "a container": (recorded(dead, dead_started, **{PID_NAMESPACE_TAG: "pid:[1]"}), DagsterRunStatus.STARTED),
        "no process recorded": ({}, DagsterRunStatus.STARTED),
    }
    with instance_for_test() as instance:
        runs = {
            case: instance.add_run(DagsterRun(job_name="items_elt", status=DagsterRunStatus.STARTED, tags=tags))
            for case, (tags, _) in cases.items()
        }
        failed = fail_stale_runs(instance, "a test")
        assert sorted(run.run_id for run in failed) == sorted([runs["dead"].run_id, runs["pid reused"].run_id])
        assert {case: status_of(instance, run.run_id) for case, run in runs.items()} == {
            case: status for case, (_, status) in cases.items()
        }
        assert fail_stale_runs(instance, "a test") == [], "a failed run is not failed twice"


@pytest.mark.parametrize(("alive", "status"), [(True, WorkerStatus.RUNNING), (False, WorkerStatus.FAILED)])
def test_run_monitoring_checks_the_recorded_process_of_a_run_it_did_not_launch(
    alive: bool, status: WorkerStatus
) -> None:
    tags = process_tags() if alive else recorded(*dead_pid())
    with instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, LocalRunLauncher)
        run = instance.add_run(DagsterRun(job_name="items_elt", status=DagsterRunStatus.STARTED, tags=tags))
        assert launcher.check_run_worker_health(run).status == status
