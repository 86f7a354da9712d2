"""Fixtures of the deployment tests: a Dagster instance database of a test's own on the test PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.embedded import with_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance_url(database_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for Dagster's instance storage (runs, event logs, schedules), dropped after."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(database_url, name)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME with the repository's dagster.yaml (instance storage in PostgreSQL, queues, retries)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home
