"""The embedded PostgreSQL in `.elt/postgres`: start, stop, status, and URLs of its databases.

It serves the data (database `postgres`) and Dagster's instance storage (database `dagster`). It keeps running
after the process that started it, for the next commands; `elt-dagster db stop` stops it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from elt_dagster.engine.db import embedded_database_url, state_dir
from elt_dagster.engine.postmaster import postmaster_pid, stop_postmaster

INSTANCE_DATABASE = "dagster"
"""The database of Dagster's instance storage (runs, event logs, schedules, sensors)."""
STORAGE_URL_ENV = "ELT_DAGSTER_STORAGE_URL"
"""Where Dagster's instance storage is (the repository's dagster.yaml reads it); unset, database `dagster` here."""


def data_dir() -> Path:
    return state_dir() / "postgres"


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    data_dir: Path


def status() -> Status:
    """Whether the embedded server runs (its postmaster.pid names a live process)."""
    pid = postmaster_pid(data_dir())
    return Status(pid is not None, pid, data_dir())


def start() -> str:
    """Start the server if needed and create the instance database; the data database's URL."""
    url = embedded_database_url(data_dir())
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (INSTANCE_DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(INSTANCE_DATABASE)))
    return url


def instance_url() -> str:
    """Dagster's instance storage: ELT_DAGSTER_STORAGE_URL, else the embedded server's `dagster` database (the
    server started if need be). The CLI's `db url --instance` and the dagster.yaml storage class both ask here."""
    return os.environ.get(STORAGE_URL_ENV) or with_database(start(), INSTANCE_DATABASE)


def stop(timeout_seconds: float = 60, folder: Path | None = None) -> bool:
    """Stop the server of `folder` (default `.elt/postgres`): a fast shutdown, running transactions roll back.
    False when it wasn't running."""
    return stop_postmaster(folder or data_dir(), timeout_seconds)


def with_database(url: str, database: str) -> str:
    """`url` (postgresql://... or libpq key=value) naming `database` instead of its own."""
    if "://" not in url:
        return make_conninfo(url, dbname=database)
    return urlunsplit(urlsplit(url)._replace(path="/" + database))
