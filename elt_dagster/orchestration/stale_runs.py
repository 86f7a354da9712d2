"""Runs left STARTED for ever by a process that died without a word (kill -9, a crash, the out-of-memory killer)
where no daemon's run monitoring watches: `dagster job execute`, or `dagster dev` killed with its daemon.

Each ELT step tags its run with the process running it: host name, pid and the process's start time (so a pid given
to a newer process is not taken for it). The start of every ELT step, and `elt-dagster runs cleanup`, mark failed
each STARTING or STARTED run recorded on this machine whose process is gone, and give back its pool slots. Runs of
other machines (or of another pid namespace: a container), runs with no process recorded (not yet at their step)
and runs whose process lives are left alone. With the daemon, run monitoring asks `LocalRunLauncher`, which checks
the same tags for the runs it did not launch.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.events import JobFailureData, RunFailureReason

HOST_TAG = "elt/host"
PID_TAG = "elt/pid"
PID_STARTED_TAG = "elt/pid_started"
"""The start time of the run's process (seconds since the epoch), as the operating system reports it."""
PID_NAMESPACE_TAG = "elt/pid_namespace"
"""Linux's pid namespace of the process (a container has its own, where pids mean other processes); "" elsewhere."""
IN_PROGRESS = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
CLOCK_SLACK_SECONDS = 2.0
"""How much later than recorded a process may seem to have started (the OS's start times are coarse)."""


def process_alive(pid: int, recorded_at: float) -> bool:
    """Whether the process `pid`, recorded at `recorded_at` (or with that start time), still runs: it exists, is
    not a zombie, and is not a newer process that was given the same pid."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= recorded_at + CLOCK_SLACK_SECONDS
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True


def pid_namespace() -> str:
    """This process's pid namespace on Linux (e.g. "pid:[4026531836]"); "" where there is none to read."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclass(frozen=True)
class StaleRun:
    """A run marked failed because its process is gone."""

    run_id: str
    job_name: str
    pid: int
    message: str


def process_tags() -> dict[str, str]:
    """This process as run tags: the machine's host name, the pid and the process's start time."""
    started = repr(psutil.Process().create_time())
    here = {HOST_TAG: socket.gethostname(), PID_NAMESPACE_TAG: pid_namespace()}
    return {**here, PID_TAG: str(os.getpid()), PID_STARTED_TAG: started}


def dead_process(run: DagsterRun, host: str) -> int | None:
    """The pid of the run's recorded process if it ran on `host` and is gone; None if it lives, ran elsewhere or
    was never recorded."""
    if run.tags.get(HOST_TAG) != host or run.tags.get(PID_NAMESPACE_TAG, "") != pid_namespace():
        return None
    try:
        pid, started = int(run.tags[PID_TAG]), float(run.tags[PID_STARTED_TAG])
    except (KeyError, ValueError):
        return None
    return None if process_alive(pid, started) else pid


def fail_stale_runs(instance: DagsterInstance, noticed_by: str) -> list[StaleRun]:
    """Mark failed every run of this machine still STARTING or STARTED whose process no longer exists, and free
    its pool slots; `noticed_by` says who noticed (in the failure message)."""
    host = socket.gethostname()
    stale = []
    for run in instance.get_runs(RunsFilter(statuses=IN_PROGRESS, tags={HOST_TAG: host})):
        pid = dead_process(run, host)
        current = instance.get_run_by_id(run.run_id) if pid is not None else None
        if pid is None or current is None or current.status not in IN_PROGRESS:  # ended meanwhile: its own verdict
            continue
        message = (
            f"the run's process {pid} on {host} no longer exists (killed, or crashed) while the run was "
            f"{current.status.value}: marked failed by {noticed_by}"
        )
        failure = JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
        instance.report_run_failed(current, message, failure)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        stale.append(StaleRun(run.run_id, run.job_name, pid, message))
    return stale
