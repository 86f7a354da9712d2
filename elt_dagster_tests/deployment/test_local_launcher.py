"""LocalRunLauncher's health check: FAILED only for a run launched here whose recorded process is gone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, instance_for_test
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from elt_dagster.orchestration.launcher import LAUNCHED_ON_TAG, LocalRunLauncher, process_alive

LAUNCHER = {"module": "elt_dagster.orchestration.launcher", "class": "LocalRunLauncher"}
HERE = {LAUNCHED_ON_TAG: socket.gethostname(), GRPC_INFO_TAG: json.dumps({"host": "localhost", "port": 4000})}


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def started_run(instance: DagsterInstance, tags: dict[str, str], pid: int | None) -> DagsterRun:
    """A run with `tags` whose process, when `pid` is given, was recorded as the code server records it."""
    run = instance.add_run(DagsterRun(job_name="items_elt", tags=tags))
    if pid is not None:
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run


def test_a_process_is_alive_until_it_ends_and_a_newer_process_with_its_pid_is_not_it() -> None:
    assert process_alive(os.getpid(), time.time())
    assert not process_alive(dead_pid(), time.time())
    assert not process_alive(os.getpid(), time.time() - 86_400)  # recorded before this process started


@pytest.mark.parametrize(
    ("tags", "pid", "status"),
    [
        (HERE, "dead", WorkerStatus.FAILED),
        (HERE, "self", WorkerStatus.RUNNING),
        (HERE, None, WorkerStatus.RUNNING),  # no process recorded yet: not checked
        ({**HERE, LAUNCHED_ON_TAG: "another-machine"}, "dead", WorkerStatus.RUNNING),
        ({**HERE, GRPC_INFO_TAG: json.dumps({"host": "10.1.2.3", "port": 4000})}, "dead", WorkerStatus.RUNNING),
        ({}, "dead", WorkerStatus.RUNNING),  # not launched by LocalRunLauncher (e.g. dagster job execute)
    ],
)
def test_the_health_check_fails_only_runs_launched_here_whose_process_is_gone(
    tags: dict[str, str], pid: str | None, status: WorkerStatus
) -> None:
    with instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
        pids = {"dead": dead_pid(), "self": os.getpid(), None: None}
        result = launcher.check_run_worker_health(started_run(instance, tags, pids[pid]))
    assert result.status == status, result.msg


def test_the_repository_instance_uses_it_and_fails_dead_runs_instead_of_resuming_them(
    postgres_home: Path, instance_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    with DagsterInstance.from_config(str(postgres_home)) as instance:
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
