"""Roles: the admin webserver launches runs; the read-only one (the viewer) refuses to."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from elt_dagster_tests.conftest import write
from elt_dagster_tests.webserver import dagster_home, running_webserver


@pytest.fixture
def env(tmp_path: Path, database_url: str, db_schema: str) -> dict[str, str]:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    write(
        tmp_path / "configs" / "people.yaml",
        f"sources:\n  - type: local\n    path: ../data\ntarget:\n  table: people\n  db_schema: {db_schema}\n",
    )
    return {
        "DAGSTER_HOME": str(dagster_home(tmp_path / "home")),
        "ELT_CONFIG_DIR": str(tmp_path / "configs"),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "PYTHONWARNINGS": "ignore",
    }


def client(base: str) -> DagsterGraphQLClient:
    host, port = base.removeprefix("http://").split(":")
    return DagsterGraphQLClient(host, port_number=int(port), timeout=60)


def test_read_only_webserver_refuses_to_launch_and_admin_launches(env: dict[str, str], tmp_path: Path) -> None:
    with running_webserver(env, tmp_path, tmp_path / "viewer.log", read_only=True) as viewer:
        with pytest.raises(DagsterGraphQLClientError) as refused:
            client(viewer).submit_job_execution("people_elt")
        assert "permission" in str(refused.value).lower() or "unauthorized" in str(refused.value).lower()
    with running_webserver(env, tmp_path, tmp_path / "admin.log") as admin:
        run_id = client(admin).submit_job_execution("people_elt")
        assert len(run_id) == 36
