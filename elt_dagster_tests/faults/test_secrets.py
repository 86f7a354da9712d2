"""Planted secrets appear nowhere: config history, Dagster's run storage and event log, staging files, CLI output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import instance_for_test
from dagster_shared.serdes import serialize_value

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.http_api import FakeApi, Reply, Seen

pytestmark = pytest.mark.faults

SECRETS = {
    "ELT_FUZZ_TOKEN": "tok-a1b2c3-planted",
    "ELT_FUZZ_KEY": "key-d4e5f6-planted",
    "ELT_FUZZ_HEADER": "hdr-0a9b8c-planted",
    "ELT_FUZZ_PASSWORD": "pw-5f4e3d-planted",
}


def api_yaml(server: FakeApi, db_schema: str, database_url: str) -> str:
    return f"""
name: leaky
sources:
  - type: api
    url: {server.url("/items")}?api_key=${{ELT_FUZZ_KEY}}&page_size=2
    headers:
      X-Custom-Token: ${{ELT_FUZZ_HEADER}}
    auth:
      type: bearer
      token: ${{ELT_FUZZ_TOKEN}}
    records_path: items
target:
  table: items
  db_schema: {db_schema}
  url: {database_url}&password=${{ELT_FUZZ_PASSWORD}}
"""


@pytest.mark.parametrize("status", [200, 401, 500])
def test_planted_secrets_appear_nowhere(
    server: FakeApi,
    tmp_path: Path,
    db_schema: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ELT_DATABASE_URL", f"{database_url}&password=default-db-pw-planted")

    def echo(seen: Seen) -> Reply:  # an API that echoes what it was sent, as some do in their errors
        body = {"items": [{"id": 1}], "echo": str(seen.headers) + str(seen.params)}
        return Reply(body if status == 200 else {"error": body["echo"]}, status=status)

    server.route("/items", echo)
    configs = tmp_path / "configs"
    write(configs / "leaky.yaml", api_yaml(server, db_schema, database_url))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(configs))
    with instance_for_test() as instance:
        result = (
            build_definitions(configs)
            .resolve_job_def("leaky_elt")
            .execute_in_process(instance=instance, raise_on_error=False)
        )
        assert result.success == (status == 200)
        stored = serialize_value(instance.get_run_by_id(result.run_id))
        stored += serialize_value(instance.get_job_snapshot(instance.get_run_by_id(result.run_id).job_snapshot_id))
        stored += "".join(serialize_value(event) for event in instance.all_logs(result.run_id))
    main(["config", "show", "leaky"])
    main(["config", "history"])
    stored += capsys.readouterr().out + capsys.readouterr().err
    stored += "".join(str(row) for row in fetch(database_url, "SELECT * FROM elt.config_history"))
    if status == 200:  # the rows landed; the echo sat outside the records
        assert fetch(database_url, f'SELECT id FROM "{db_schema}".items') == [("1",)]
    for path in (tmp_path / "state").rglob("*"):
        stored += path.read_text(errors="replace") if path.is_file() and path.stat().st_size < 10_000_000 else ""
    planted = [*SECRETS.values(), "default-db-pw-planted"]
    leaked = [secret for secret in planted if secret in stored]
    assert leaked == []
    record("secrets", f"in-process run, API {status}", "no secret in storage, history, CLI or staging")


@pytest.mark.parametrize("where", ["headers", "token"])
def test_a_secret_with_a_line_break_is_a_config_error_that_does_not_show_it(
    server: FakeApi, tmp_path: Path, db_schema: str, database_url: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ELT_FUZZ_HEADER" if where == "headers" else "ELT_FUZZ_TOKEN", "first-9c8b\nsecond-7a6f")
    configs = tmp_path / "configs"
    write(configs / "leaky.yaml", api_yaml(server, db_schema, database_url))
    defs = build_definitions(configs)
    message = defs.metadata["invalid_configs"].value[str(configs / "leaky.yaml")]
    assert "holds a line break" in message and ("headers.X-Custom-Token" in message or "auth (bearer)" in message)
    assert "first-9c8b" not in message and "second-7a6f" not in message


@pytest.mark.parametrize("status", [200, 500])
def test_planted_secrets_are_not_in_a_subprocess_run_s_files_compute_logs_or_output(
    server: FakeApi, tmp_path: Path, db_schema: str, database_url: str, status: int
) -> None:
    server.route(
        "/items",
        lambda seen: Reply({"items": [{"id": 1}], "echo": str(seen.headers) + str(seen.params)}, status=status),
    )
    configs, home = tmp_path / "configs", tmp_path / "dagster_home"
    write(configs / "leaky.yaml", api_yaml(server, db_schema, database_url))
    home.mkdir()
    env = {
        **os.environ,
        **SECRETS,
        "ELT_CONFIG_DIR": str(configs),
        "ELT_DATABASE_URL": f"{database_url}&password=default-db-pw-planted",
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(home),
        "PYTHONWARNINGS": "ignore",
    }
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "elt_dagster", "-j", "leaky_elt"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=180)
    assert (done.returncode == 0) == (status == 200), done.stderr[-2000:]
    compute_logs = [p for p in (home / "storage").rglob("*") if p.suffix in (".out", ".err", ".complete")]
    assert compute_logs, "no compute log was written: the sweep would prove nothing"
    stored = done.stdout + done.stderr
    for path in [*home.rglob("*"), *(tmp_path / "state").rglob("*")]:
        stored += path.read_bytes() if path.is_file() and path.stat().st_size < 50_000_000 else b""
    planted = [*SECRETS.values(), "default-db-pw-planted"]
    assert [secret for secret in planted if secret.encode() in stored] == []
    record("secrets", f"dagster job execute, API {status}", "no secret in files, compute logs or output")
