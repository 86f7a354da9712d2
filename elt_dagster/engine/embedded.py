"""The embedded PostgreSQL in `.elt/postgres`: start, stop, status, and URLs of its databases.

It serves the data (database `postgres`) and Dagster's instance storage (database `dagster`). It keeps running
after the process that started it, for the next commands; `elt-dagster db stop` stops it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from elt_dagster.engine.db import embedded_database_url, state_dir

INSTANCE_DATABASE = "dagster"
"""The database of Dagster's instance storage (runs, event logs, schedules, sensors)."""


def data_dir() -> Path:
    return state_dir() / "postgres"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    data_dir: Path


def status() -> Status:
    """Whether the embedded server runs (its postmaster.pid names a live process)."""
    pid = _postmaster_pid(data_dir())
    return Status(pid is not None, pid, data_dir())


def start() -> str:
    """Start the server if needed and create the instance database; the data database's URL."""
    url = embedded_database_url(data_dir())
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (INSTANCE_DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(INSTANCE_DATABASE)))
    return url


def stop(timeout_seconds: float = 60, folder: Path | None = None) -> bool:
    """Stop the server of `folder` (default `.elt/postgres`): a fast shutdown, running transactions roll back.
    False when it wasn't running."""
    pid = _postmaster_pid(folder or data_dir())
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded PostgreSQL (pid {pid}) did not stop within {timeout_seconds:g} s")
        time.sleep(0.1)
    return True


def with_database(url: str, database: str) -> str:
    """`url` (postgresql://... or libpq key=value) naming `database` instead of its own."""
    if "://" not in url:
        return make_conninfo(url, dbname=database)
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def _postmaster_pid(folder: Path) -> int | None:
    pid_file = folder / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a zombie (our own child that exited) counts as stopped
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
