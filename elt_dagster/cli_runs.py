"""`elt-dagster runs cleanup`: mark failed the runs whose process died (kill -9, a crash) and that Dagster still
shows running, when no daemon's run monitoring does it. Dagster is imported by the command only."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.cli_db import INSTANCE_URL_ENV, instance_url
from elt_dagster.engine.errors import PipelineError

if TYPE_CHECKING:
    from dagster import DagsterInstance


def open_instance() -> DagsterInstance:
    """The Dagster instance of DAGSTER_HOME (else ./.elt/dagster), its storage URL filled in as dev.py does."""
    from dagster import DagsterInstance

    home = os.environ.get("DAGSTER_HOME") or str(Path(".elt/dagster").resolve())
    if not Path(home, "dagster.yaml").is_file():
        raise PipelineError(f"no Dagster instance at {home} (set DAGSTER_HOME, or run a job first)")
    os.environ["DAGSTER_HOME"] = home
    settings = Path(home, "dagster.yaml").read_text()
    if INSTANCE_URL_ENV not in os.environ and INSTANCE_URL_ENV in settings:
        os.environ[INSTANCE_URL_ENV] = instance_url()  # the repository's dagster.yaml: storage in PostgreSQL
    return DagsterInstance.get()


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
