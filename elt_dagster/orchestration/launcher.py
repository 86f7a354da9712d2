"""A run launcher for one machine: Dagster's default launcher plus a health check of each run's process.

Dagster's `DefaultRunLauncher` asks a code server to start a run as a child process, and can't tell run monitoring
whether that process still lives. When the code server dies with it (kill -9 of `dagster dev`, a crash, the
machine's out-of-memory killer), nothing marks the run failed: it stays STARTED and is never retried.

`LocalRunLauncher` tags each run with the machine it was launched from; when the daemon's run monitoring asks, it
looks up the run's process (the pid of the first engine event naming one: "Started process for run (pid: N)")
and answers FAILED when that process is gone. The run is then marked failed and `run_retries` starts it again.

It judges only what it can see: a run launched from another machine, or whose code server is not on the loopback
address or a socket, or that has no pid recorded yet, is reported RUNNING (unchecked). A run it did not launch
(`dagster job execute`) is judged by the process its ELT step recorded in run tags (see stale_runs), when that
process is on this machine. It is meant for one machine (one process namespace); the Docker and Kubernetes
launchers of `deploy/` have health checks of their own.
In `dagster.yaml`: `run_launcher: {module: elt_dagster.orchestration.launcher, class: LocalRunLauncher}`.
"""

from __future__ import annotations

import json
import socket

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from .stale_runs import dead_process, process_alive

LAUNCHED_ON_TAG = "elt/launched_on"
"""The run tag naming the machine (host name) the run was launched from."""
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def run_worker(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the run's process and when it was recorded, from the first engine event that names a pid."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None:
            return int(str(pid.value)), entry.timestamp
    return None


def code_server_is_local(run: DagsterRun) -> bool:
    """Whether the run's code server (which starts the run's process) was reached on a loopback address or a socket."""
    info = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}")
    return bool(info.get("socket")) or info.get("host") in LOOPBACK_HOSTS | {socket.gethostname()}


def recorded_process_health(run: DagsterRun, host: str) -> CheckRunHealthResult:
    """A run not launched here (`dagster job execute`): FAILED when the process its step recorded on this machine is
    gone (stale_runs), else RUNNING (it runs, or can't be checked from here)."""
    pid = dead_process(run, host)
    if pid is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"not checked, or runs: the run was not launched on {host}")
    return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process {pid} no longer exists on {host}")


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
            return recorded_process_health(run, host)
        worker = run_worker(self._instance, run.run_id)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not checked: no process recorded yet")
        pid, recorded_at = worker
        if process_alive(pid, recorded_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} runs", run_worker_id=str(pid))
        message = f"the run's process {pid} no longer exists on {host}"
        return CheckRunHealthResult(WorkerStatus.FAILED, message, run_worker_id=str(pid))
