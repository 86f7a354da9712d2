"""A `${VAR}` in a local source's `path:` (`path: /data/${CUSTOMER_TOKEN}/exports`) appears nowhere: not in a row's
`_elt_source`, a quarantine row, a staging file, a config error, config history, the Dagster event log and asset
metadata, nor the output of `elt-dagster check` / `preview` / `rejects`; a `public_env` variable stays readable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import instance_for_test
from dagster_shared.serdes import serialize_value
from psycopg.conninfo import conninfo_to_dict

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

TOKEN = "tok-4f8a2c-in-a-path"
REGION = "eu-west-9"
"""Declared public: kept wherever it shows."""

LEAKY_YAML = """
name: leaky
public_env: [ELT_PATH_REGION]
sources:
  - path: ../data/${ELT_PATH_REGION}/${ELT_PATH_TOKEN}/exports
target:
  table: items
  db_schema: {schema}
schema:
  columns:
    id: integer
    name: string
"""


def definitions_text(configs: Path) -> str:
    """What the definitions of the config folder show: asset descriptions and metadata, the definitions' metadata."""
    defs = build_definitions(configs)
    specs = defs.resolve_all_asset_specs()
    return str(defs.metadata) + "".join(f"{spec.description} {spec.metadata}" for spec in specs)


def dagster_run(configs: Path, job_name: str, before: Callable[[], object] = lambda: None) -> tuple[bool, str]:
    """Run a job of the config folder in process (calling `before` first): whether it succeeded, and its run and
    events as stored."""
    with instance_for_test() as instance:
        job = build_definitions(configs).resolve_job_def(job_name)
        before()
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        stored = serialize_value(instance.get_run_by_id(result.run_id))
        stored += "".join(serialize_value(event) for event in instance.all_logs(result.run_id))
    return result.success, stored


def test_a_token_in_a_local_source_path_appears_nowhere(
    tmp_path: Path,
    make_pipeline,
    db_schema: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ELT_PATH_TOKEN", TOKEN)
    monkeypatch.setenv("ELT_PATH_REGION", REGION)
    monkeypatch.setenv("ELT_CONFIG_DIR", str(tmp_path / "configs"))
    exports = tmp_path / "data" / REGION / TOKEN / "exports"
    write(exports / "a.csv", "id,name\n1,one\nnot a number,bad\n2,two,extra\n")  # a rejected and a malformed row
    write(exports / "notes.pdf", "skipped")
    os.utime(exports / "a.csv", ns=(1, 1))
    loaded = make_pipeline(LEAKY_YAML, name="leaky")
    shown = f"{tmp_path}/data/{REGION}/***/exports"

    report = run_pipeline(loaded)
    assert (report.inserted, report.rejected, report.skipped_files) == (1, 2, [f"{shown}/notes.pdf"])
    write(exports / f"b_{TOKEN}.csv", "id,name\n3,three\nx,worse\n")  # the token in a file name too
    success, stored = dagster_run(tmp_path / "configs", "leaky_elt")
    assert success and f"{shown}/***.csv" not in stored and f"{shown}/b_***.csv (2 rows)" in stored
    assert "files_read" in stored and "skipped 1 files" in stored  # the metadata and the warning are in

    table = f'"{db_schema}".items'
    sources = fetch(database_url, f"SELECT DISTINCT _elt_source FROM {table} ORDER BY 1")
    assert sources == [(f"{shown}/a.csv",), (f"{shown}/b_***.csv",)]
    quarantined = fetch(database_url, f"SELECT source FROM {table}__rejected ORDER BY id")
    assert quarantined == [(f"{shown}/a.csv",)] * 2 + [(f"{shown}/b_***.csv",)]
    stored += "".join(str(row) for row in fetch(database_url, f"SELECT * FROM {table}__rejected"))
    stored += "".join(str(row) for row in fetch(database_url, "SELECT * FROM elt.config_history"))
    assert "${ELT_PATH_TOKEN}" in stored  # config history keeps the YAML as written
    staging = [file for file in (tmp_path / "state").rglob("*") if file.is_file()]
    assert any(file.name == "extracted.csv" for file in staging)
    stored += "".join(file.read_text(errors="replace") for file in staging)

    # rows stored before paths were masked: the commands and the preview job mask them when they show them, before
    # a table cuts the cell to 60 characters (which would leave the token's first characters)
    old = "/" + "x" * 49 + f"/{TOKEN}/a.csv"
    fetch(database_url, f"UPDATE {table} SET _elt_source = %s RETURNING 1", old)
    fetch(database_url, f"UPDATE {table}__rejected SET source = %s RETURNING 1", old)
    masked_old = "/" + "x" * 49 + "/***/a.csv"
    success, previewed = dagster_run(tmp_path / "configs", "leaky_preview")
    assert success and masked_old in previewed
    stored += previewed
    for command in (
        ["check"],
        ["preview"],
        ["rejects"],
        ["rejects", "--format", "json"],
        ["rejects", "--format", "csv"],
    ):
        assert main([*command, "leaky"]) == 0
    printed = capsys.readouterr()
    assert printed.out.count(masked_old) >= 5  # preview, rejects table, json, csv
    stored += printed.out + printed.err

    described = definitions_text(tmp_path / "configs")
    assert f"`{shown}` (*)" in described

    # the source folder gone: the config error, in the commands, the Dagster step and the definitions
    success, failed = dagster_run(tmp_path / "configs", "leaky_elt", lambda: exports.rename(exports.with_name("gone")))
    assert not success and f"{shown} does not exist" in failed
    with pytest.raises(ConfigError) as caught:
        load_config(loaded.path)
    assert str(caught.value).endswith(f"sources[0].path (line 4): {shown} does not exist")
    assert main(["validate", str(loaded.path)]) == 1 and main(["check", "leaky"]) == 1
    printed = capsys.readouterr()
    broken = definitions_text(tmp_path / "configs")
    assert f"{shown} does not exist" in broken
    stored += described + failed + str(caught.value) + printed.out + printed.err + broken

    assert TOKEN[:8] not in stored
    assert REGION in stored
    record("secrets", "${TOKEN} in a local source path (rows, quarantine, staging, Dagster, CLI)", "in no output")


def test_a_user_from_the_environment_is_masked_when_the_database_refuses_it(
    tmp_path: Path, make_pipeline, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = "usr-3a9c51-unknown"
    monkeypatch.setenv("ELT_PATH_USER", user)
    server = conninfo_to_dict(database_url)
    write(tmp_path / "data" / "a.csv", "id,name\n1,one\n")
    host, port = server.get("host") or "localhost", server.get("port") or 5432
    connection = f"  db_schema: {{schema}}\n  host: {host}\n  port: {port}\n  user: ${{ELT_PATH_USER}}\n"
    body = LEAKY_YAML.replace("../data/${ELT_PATH_REGION}/${ELT_PATH_TOKEN}/exports", "../data")
    make_pipeline(body.replace("  db_schema: {schema}\n", connection), "leaky")
    success, stored = dagster_run(tmp_path / "configs", "leaky_elt")
    assert not success and "can't connect to PostgreSQL" in stored and 'role \\"***\\" does not exist' in stored
    assert user not in stored
    record("secrets", "${DB_USER} refused by PostgreSQL, in the Dagster step's failure", "masked")
