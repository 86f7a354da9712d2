"""Dagster's own distributed machinery: a code server, a webserver, a daemon and a second webserver as separate
processes sharing one PostgreSQL instance; runs queue per target table."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_graphql import DagsterGraphQLClient

from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.webserver import cli_env, free_port, running_process, running_webserver

BIN = Path(sys.executable).parent
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on {port}:\n{log.read_text()[-3000:]}")


def client(base: str) -> DagsterGraphQLClient:
    host, port = base.removeprefix("http://").split(":")
    return DagsterGraphQLClient(host, port_number=int(port), timeout=60)


def wait_until_done(graphql: DagsterGraphQLClient, run_ids: list[str], seconds: float = 240) -> list[DagsterRunStatus]:
    deadline = time.monotonic() + seconds
    while True:
        statuses = [graphql.get_run_status(run_id) for run_id in run_ids]
        if all(status in DONE for status in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


@contextlib.contextmanager
def code_and_webserver(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """A code server (gRPC) and an admin webserver, each its own process; yields (webserver URL, workspace)."""
    port = free_port()
    workspace = write(
        tmp_path / "workspace.yaml",
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n      location_name: elt_dagster\n",
    )
    code = [str(BIN / "dagster"), "api", "grpc", "-m", "elt_dagster", "-h", "127.0.0.1", "-p", str(port)]
    with running_process(code, env, tmp_path, tmp_path / "code.log") as server:
        wait_for_port(port, server, tmp_path / "code.log")
        with running_webserver(env, tmp_path, tmp_path / "admin.log", code=("-w", str(workspace))) as admin:
            yield admin, workspace


def daemon(tmp_path: Path, env: dict[str, str], workspace: Path):
    """The daemon (run queue, sensors, run monitoring, retries), its own process."""
    args = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    return running_process(args, env, tmp_path, tmp_path / "daemon.log")


def base_env(tmp_path: Path, instance_url: str, database_url: str) -> dict[str, str]:
    return {**cli_env(tmp_path / "configs", tmp_path, database_url), "ELT_DAGSTER_STORAGE_URL": instance_url}


def pipeline(tmp_path: Path, name: str, table: str, db_schema: str, rows: int) -> None:
    lines = "".join(f"{name}-{i},{i}\n" for i in range(rows))
    write(tmp_path / "data" / name / "a.csv", "key,n\n" + lines)
    write(
        tmp_path / "configs" / f"{name}.yaml",
        f"sources:\n  - path: ../data/{name}\ntarget:\n  table: {table}\n  db_schema: {db_schema}\n",
    )


def test_a_run_launched_through_graphql_is_dequeued_by_the_daemon_and_seen_by_a_second_webserver(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str
) -> None:
    pipeline(tmp_path, "people", "people", db_schema, 100)
    env = base_env(tmp_path, instance_url, database_url)
    with code_and_webserver(tmp_path, env) as (admin, workspace), daemon(tmp_path, env, workspace):
        run_id = client(admin).submit_job_execution("people_elt")
        assert wait_until_done(client(admin), [run_id]) == [DagsterRunStatus.SUCCESS], (
            tmp_path / "daemon.log"
        ).read_text()[-3000:]
        viewer_log = tmp_path / "viewer.log"
        with running_webserver(env, tmp_path, viewer_log, read_only=True, code=("-w", str(workspace))) as viewer:
            assert client(viewer).get_run_status(run_id) == DagsterRunStatus.SUCCESS
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".people') == [(100,)]
    assert "QueuedRunCoordinatorDaemon" in (tmp_path / "daemon.log").read_text()


def test_runs_on_one_table_never_overlap_and_runs_on_different_tables_do(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str, monkeypatch
) -> None:
    names = {"a1": "table_a", "a2": "table_a", "b1": "table_b", "b2": "table_b"}
    for name, table in names.items():
        pipeline(tmp_path, name, table, db_schema, 300_000)
    env = base_env(tmp_path, instance_url, database_url)
    with code_and_webserver(tmp_path, env) as (admin, workspace):
        # Queued before the daemon starts: its source sensors' runs, which find nothing new, queue behind them
        run_ids = [client(admin).submit_job_execution(f"{name}_elt") for name in names]
        assert {client(admin).get_run_status(run_id) for run_id in run_ids} == {DagsterRunStatus.QUEUED}
        with daemon(tmp_path, env, workspace):
            statuses = wait_until_done(client(admin), run_ids, seconds=400)
        assert statuses == [DagsterRunStatus.SUCCESS] * 4, (tmp_path / "daemon.log").read_text()[-3000:]
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    with DagsterInstance.from_config(str(postgres_home)) as instance:
        records = {r.dagster_run.job_name[:2]: r for r in instance.get_run_records(RunsFilter(run_ids=run_ids))}
        # from the queue's launch (RUN_STARTING) to the end: a launched run's process may take seconds to start
        # on two busy cores, longer than a short load of another table takes
        launched = {
            name: instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.RUN_STARTING)[0].timestamp
            for name, record in records.items()
        }
    spans = {name: (launched[name], records[name].end_time) for name in names}

    def overlap(first: str, second: str) -> bool:
        return spans[first][0] < spans[second][1] and spans[second][0] < spans[first][1]

    assert not overlap("a1", "a2") and not overlap("b1", "b2"), spans
    assert any(overlap(a, b) for a in ("a1", "a2") for b in ("b1", "b2")), spans
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".table_a') == [(600_000,)]
