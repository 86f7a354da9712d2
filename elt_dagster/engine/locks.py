"""What guards a run and a replay alike: one at a time per pipeline (`lock_pipeline`), and any psycopg error turned
into one line that says whether running again can help (`database_errors`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from elt_dagster.engine.db import ConnectionLost, DatabaseError
from elt_dagster.engine.state.schema import ensure_state_tables

LOCK_TIMEOUT_ENV = "ELT_LOCK_TIMEOUT_SECONDS"
DEFAULT_LOCK_TIMEOUT_SECONDS = 3600.0


@contextmanager
def database_errors() -> Iterator[None]:
    """A psycopg error as ConnectionLost (the server went away: run again) or DatabaseError (a refusal)."""
    try:
        yield
    except psycopg.Error as exc:
        if isinstance(exc, psycopg.OperationalError) and _connection_lost(exc):
            raise ConnectionLost(
                f"lost the connection to PostgreSQL during the run ({_first_line(exc)}); {_NOTHING}: run it again"
            ) from None
        where = f" [{exc.sqlstate}]" if exc.sqlstate else ""
        raise DatabaseError(f"PostgreSQL refused the load{where}: {_first_line(exc)}; {_NOTHING}") from None


_NOTHING = "nothing of this run was committed"


_CONNECTION_STATES = {"08000", "08001", "08003", "08004", "08006", "08007"}
"""Class 08 but 08P01 (protocol violation): a broken message is a refusal, running again won't help."""


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether the server went away (no SQLSTATE, a connection error, or a shutdown 57P0x), not a refusal."""
    state = exc.sqlstate
    return state is None or state in _CONNECTION_STATES or state.startswith("57P")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def lock_pipeline(conn: psycopg.Connection, pipeline: str, partition: str | None = None) -> None:
    """One run of a pipeline at a time: a second one waits here, then sees the first one's fingerprints. With
    `partition`, one run of that partition at a time: runs of other partitions go on beside it.

    A session lock, so no transaction stays open while the plan fetches API pages. The wait is bounded (env
    ELT_LOCK_TIMEOUT_SECONDS, default an hour): a run that hangs holding the lock fails the next one with a message
    instead of stalling it forever.
    """
    ensure_state_tables(conn)
    seconds = float(os.environ.get(LOCK_TIMEOUT_ENV) or DEFAULT_LOCK_TIMEOUT_SECONDS)
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(seconds * 1000)}ms")))
    name = pipeline if partition is None else f"{pipeline}/{partition}"
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext('elt.pipeline:' || %s))", (name,))
    except psycopg.errors.LockNotAvailable:
        which = f"pipeline {pipeline!r}" + (f", partition {partition!r}," if partition is not None else "")
        raise DatabaseError(
            f"another run of {which} has held its lock for over {seconds:g} s (a long run, or one that "
            f"hangs: cancel it, or set {LOCK_TIMEOUT_ENV} to wait longer)"
        ) from None
    conn.execute("SET lock_timeout = 0")
    conn.commit()
