"""A run launcher for one machine: Dagster's default launcher plus a health check of each run's process.

Dagster's `DefaultRunLauncher` asks a code server to start a run as a child process, and can't tell run monitoring
whether that process still lives. When the code server dies with it (kill -9 of `dagster dev`, a crash, the
machine's out-of-memory killer), nothing marks the run failed: it stays STARTED and is never retried.

`LocalRunLauncher` tags each run with the machine it was launched from; when the daemon's run monitoring asks, it
looks up the run's process (the pid of the first engine event naming one: "Started process for run (pid: N)")
and answers FAILED when that process is gone. The run is then marked failed and `run_retries` starts it again.

It judges only what it can see: a run launched from another machine, or whose code server is not on the loopback
address or a socket, or that has no pid recorded yet, is reported RUNNING (unchecked). It is meant for one machine
(one process namespace); the Docker and Kubernetes launchers of `deploy/` have health checks of their own.
In `dagster.yaml`: `run_launcher: {module: elt_dagster.orchestration.launcher, class: LocalRunLauncher}`.
"""

from __future__ import annotations

import json
import socket

import psutil
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

LAUNCHED_ON_TAG = "elt/launched_on"
"""The run tag naming the machine (host name) the run was launched from."""
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
CLOCK_SLACK_SECONDS = 2.0
"""How much later than its pid event a process may seem to have started (the OS's start times are coarse)."""


def run_worker(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the run's process and when it was recorded, from the first engine event that names a pid."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None:
            return int(str(pid.value)), entry.timestamp
    return None


def process_alive(pid: int, recorded_at: float) -> bool:
    """Whether the process `pid`, recorded at `recorded_at`, still runs: it exists, is not a zombie, and is not a
    newer process that was given the same pid."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= recorded_at + CLOCK_SLACK_SECONDS
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def code_server_is_local(run: DagsterRun) -> bool:
    """Whether the run's code server (which starts the run's process) was reached on a loopback address or a socket."""
    info = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}")
    return bool(info.get("socket")) or info.get("host") in LOOPBACK_HOSTS | {socket.gethostname()}


class LocalRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose runs' processes run monitoring can check, on the machine that launched them."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {LAUNCHED_ON_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """FAILED when the run's process is gone from this machine; RUNNING when it runs or can't be checked."""
        host = socket.gethostname()
        if run.tags.get(LAUNCHED_ON_TAG) != host or not code_server_is_local(run):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"not checked: the run's process is not on {host}")
        worker = run_worker(self._instance, run.run_id)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not checked: no process recorded yet")
        pid, recorded_at = worker
        if process_alive(pid, recorded_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} runs", run_worker_id=str(pid))
        message = f"the run's process {pid} no longer exists on {host}"
        return CheckRunHealthResult(WorkerStatus.FAILED, message, run_worker_id=str(pid))
