"""An s3 source's secret key (from `${ENV}`) appears nowhere: Dagster's run storage, event log and asset metadata,
the compute logs of a `dagster job execute`, the CLI's output (`preview`, `rejects`, `check`, `config history`,
`logs`), any table of the database, the run's files; also when the key is wrong and the run fails."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from dagster import instance_for_test
from dagster_shared.serdes import serialize_value

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.objects.test_s3 import put
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.s3_server import S3Server

pytestmark = pytest.mark.faults

WRONG_SECRET = "s3-wrong-secret-planted-2b7e"


def bucket_yaml(server: S3Server, bucket: str, db_schema: str) -> str:
    return f"""
name: bucket_leaky
sources:
  - type: s3
    url: s3://{bucket}/in/
    endpoint_url: {server.endpoint_url}
    access_key_id: {server.access_key}
    secret_access_key: ${{ELT_S3_SECRET}}
target:
  table: items
  db_schema: {db_schema}
schema:
  columns:
    id: integer
    name: string
"""


def filled_bucket(server: S3Server) -> str:
    """A bucket with one good row and one the schema rejects (so `rejects` has something to show)."""
    bucket = f"leak-{uuid.uuid4().hex[:10]}"
    server.filesystem().create_dir(bucket)
    put(server, bucket, "in/items.csv", b"id,name\n1,ann\nnot-a-number,bob\n")
    return bucket


def every_table_text(database_url: str) -> str:
    """Every row of every table of the database outside PostgreSQL's own catalogs, as text."""
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return "".join(
            str(conn.execute(f'SELECT t::text FROM "{schema}"."{name}" t').fetchall()) for schema, name in tables
        )


@pytest.mark.parametrize("secret_kind", ["right", "wrong"])
def test_the_secret_key_is_in_no_event_tag_metadata_table_or_cli_output(
    s3_server: S3Server,
    tmp_path: Path,
    db_schema: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret_kind: str,
) -> None:
    secret = s3_server.secret_key if secret_kind == "right" else WRONG_SECRET
    monkeypatch.setenv("ELT_S3_SECRET", secret)
    configs = tmp_path / "configs"
    write(configs / "bucket_leaky.yaml", bucket_yaml(s3_server, filled_bucket(s3_server), db_schema))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(configs))
    with instance_for_test() as instance:
        job = build_definitions(configs).resolve_job_def("bucket_leaky_elt")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success == (secret_kind == "right")
        run = instance.get_run_by_id(result.run_id)
        stored = serialize_value(run) + str(run.tags)
        stored += serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
        events = instance.all_logs(result.run_id)
        stored += "".join(serialize_value(event) + str(event.message) for event in events)
        metadata = [event.asset_materialization.metadata for event in events if event.asset_materialization]
        stored += "".join(str(values) for values in metadata)
    if secret_kind == "right":
        assert metadata and any("1" in str(values.get("dagster/row_count")) for values in metadata)
    for command in (["preview", "bucket_leaky"], ["rejects", "bucket_leaky"], ["check", "bucket_leaky"]):
        main(command)
    main(["config", "history"])
    main(["config", "show", "bucket_leaky"])
    shown = capsys.readouterr()
    stored += shown.out + shown.err + every_table_text(database_url)
    if secret_kind == "right":
        assert "not-a-number" in shown.out  # `rejects` did show the quarantined row
    for path in (tmp_path / "state").rglob("*"):
        stored += path.read_text(errors="replace") if path.is_file() and path.stat().st_size < 10_000_000 else ""
    assert secret not in stored
    record("secrets", f"s3 source, in-process run, {secret_kind} secret key", "in no event, tag, table or CLI output")


def test_the_secret_key_is_not_in_a_subprocess_run_s_compute_logs_or_files(
    s3_server: S3Server, tmp_path: Path, db_schema: str, database_url: str
) -> None:
    configs, home = tmp_path / "configs", tmp_path / "dagster_home"
    write(configs / "bucket_leaky.yaml", bucket_yaml(s3_server, filled_bucket(s3_server), db_schema))
    home.mkdir()
    env = {
        **os.environ,
        "ELT_S3_SECRET": s3_server.secret_key,
        "ELT_CONFIG_DIR": str(configs),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(home),
        "PYTHONWARNINGS": "ignore",
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    done = subprocess.run(
        [dagster, "job", "execute", "-m", "elt_dagster", "-j", "bucket_leaky_elt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cli = str(Path(sys.executable).with_name("elt-dagster"))
    shown = b"".join(
        subprocess.run([cli, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120).stdout
        for args in (["logs", "bucket_leaky", "--debug"], ["runs"], ["rejects", "bucket_leaky"])
    )
    assert b"not-a-number" in shown and b"bucket_leaky" in shown
    compute_logs = [p for p in (home / "storage").rglob("*") if p.suffix in (".out", ".err", ".complete")]
    assert compute_logs, "no compute log was written: the sweep would prove nothing"
    stored = done.stdout + done.stderr + shown
    for path in [*home.rglob("*"), *(tmp_path / "state").rglob("*")]:
        stored += path.read_bytes() if path.is_file() and path.stat().st_size < 50_000_000 else b""
    assert s3_server.secret_key.encode() not in stored
    record("secrets", "s3 source, dagster job execute", "no secret key in files, compute logs or CLI output")
