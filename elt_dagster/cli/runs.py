"""`elt-dagster logs` and `elt-dagster runs cleanup`: the latest run's log lines, and failing the runs whose process
died (kill -9, a crash) that Dagster still shows running, when no daemon's run monitoring does it. These two
commands import Dagster, the others don't. They open the instance of DAGSTER_HOME (else ./.elt/dagster) as given,
without changing the process's environment."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.cli.db import INSTANCE_URL_ENV
from elt_dagster.cli.pipelines import pipeline_name
from elt_dagster.engine.errors import PipelineError

if TYPE_CHECKING:
    from dagster import DagsterInstance, EventLogEntry

ELT_STORAGE = {"custom": {"module": "elt_dagster.orchestration.instance_storage", "class": "EltInstanceStorage"}}
"""The storage class that resolves ELT_DAGSTER_STORAGE_URL itself, else the embedded server's `dagster` database."""


def open_instance() -> DagsterInstance:
    """The Dagster instance of DAGSTER_HOME (else ./.elt/dagster).

    A dagster.yaml that reads ELT_DAGSTER_STORAGE_URL while it is unset (e.g. deploy/dagster.docker.yaml) gets the
    storage class that falls back to the embedded server, as dev.py's environment would."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    home = os.environ.get("DAGSTER_HOME") or str(Path(".elt/dagster").resolve())
    if not Path(home).is_dir():
        raise PipelineError(f"no Dagster instance at {home} (set DAGSTER_HOME, or run a job first)")
    settings = Path(home, "dagster.yaml")  # none: Dagster's defaults, SQLite in `home`
    unset_url = INSTANCE_URL_ENV not in os.environ and settings.is_file() and INSTANCE_URL_ENV in settings.read_text()
    return DagsterInstance.from_ref(
        InstanceRef.from_dir(home, overrides={"storage": ELT_STORAGE} if unset_url else None)
    )


def failure_reason(event: EventLogEntry) -> str | None:
    """Why a step failed, in one line: the `Failure`'s description, else the innermost error's message."""
    dagster_event = event.dagster_event
    if dagster_event is None or not dagster_event.is_step_failure:
        return None
    data = dagster_event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return " ".join(data.user_failure_data.description.split())
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    return " ".join(error.message.split()) if error is not None else None


def show_logs(args: argparse.Namespace) -> int:
    """`elt-dagster logs [PIPELINE]`: the latest run's log lines (of PIPELINE's job when given)."""
    from dagster import RunsFilter

    pipeline = pipeline_name(args.pipeline) if args.pipeline else None
    with open_instance() as instance:
        runs_filter = RunsFilter(job_name=f"{pipeline}_elt") if pipeline else None
        runs = instance.get_runs(filters=runs_filter, limit=1)
        if not runs:
            print("no runs yet" + (f" of {pipeline}_elt" if pipeline else ""))
            return 1
        run = runs[0]
        events = instance.all_logs(run.run_id)
    print(f"# run {run.run_id} of {run.job_name}: {run.status.value}")
    lines = []
    for event in events:
        if event.level < logging.INFO and not args.debug:
            continue
        message = event.message or (event.dagster_event.message if event.dagster_event else "") or ""
        if reason := failure_reason(event):
            message = f"{message} Why: {reason}"
        when = datetime.fromtimestamp(event.timestamp).strftime("%Y-%m-%d %H:%M:%S")
        step = f" [{event.step_key}]" if event.step_key else ""
        lines.append(f"{when} {logging.getLevelName(event.level):<7}{step} {message}".rstrip())
    print("\n".join(lines[-args.lines :]))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from elt_dagster.orchestration.stale_runs import fail_stale_runs

    with open_instance() as instance:
        stale = fail_stale_runs(instance, "`elt-dagster runs cleanup`")
    for run in stale:
        print(f"marked run {run.run_id} of {run.job_name} failed: its process {run.pid} no longer exists")
    if not stale:
        print("no run of this machine left running by a process that is gone")
    return 0


def add_runs_command(commands: argparse._SubParsersAction) -> None:
    """The `runs` command group."""
    runs = commands.add_parser("runs", help="runs of the Dagster instance (DAGSTER_HOME)").add_subparsers(
        dest="runs_command", required=True
    )
    cleanup = runs.add_parser(
        "cleanup",
        help="mark failed the runs of this machine still shown running whose process is gone (kill -9, a crash)",
    )
    cleanup.set_defaults(func=_cleanup)
