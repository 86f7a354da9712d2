"""A backfill through Dagster's own machinery: 100 daily partitions launched as one asset backfill through the
webserver's GraphQL, its runs (10 partitions each) made by the daemon's backfill loop and launched by the queued run
coordinator, instance storage in PostgreSQL. Each day's rows are loaded exactly once, the table's loads never overlap
more than `concurrent_runs`, and a run killed with kill -9 mid-COPY is marked failed (by the code server that started
it, or run monitoring), retried by run retries within the backfill, and still leaves each day's rows once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES, BulkActionStatus
from dagster_graphql import DagsterGraphQLClient

from elt_dagster.orchestration.launcher import run_worker
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.deployment.test_run_monitoring import quick_monitoring, wait_for
from elt_dagster_tests.deployment.test_separate_processes import BIN, base_env, client, code_and_webserver, daemon
from elt_dagster_tests.pipelines import daily_yaml

pytestmark = pytest.mark.slow

DAYS = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(100)]
ROWS_PER_DAY = 1_000
BIG_DAY, BIG_ROWS = "2024-02-15", 300_000
"""One day much bigger than the others: its COPY lasts long enough to be killed in the middle."""
TOTAL_ROWS = ROWS_PER_DAY * (len(DAYS) - 1) + BIG_ROWS
BACKFILL_SECONDS = 400
PIPELINE = daily_yaml('end: "2024-04-10"\nmax_partitions_per_run: 10\nconcurrent_runs: {concurrent_runs}')
LOAD_ASSETS = [
    ["backfill", "extracted"],
    ["backfill", "validated"],
    ["backfill", "events"],
    ["backfill", "events__rejected"],
]
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""


def day_rows(key: str) -> int:
    return BIG_ROWS if key == BIG_DAY else ROWS_PER_DAY


def events_pipeline(tmp_path: Path, db_schema: str, concurrent_runs: int) -> None:
    """Pipeline `backfill` (not `events`: the daemon test's, whose config history counts from 1) into
    <db_schema>.events: 100 days of files, `data/<day>/events.csv`, each id unique across the days."""
    first = 0
    for key in DAYS:
        ids = range(first, first + day_rows(key))
        write(tmp_path / "data" / key / "events.csv", "id,name\n" + "".join(f"{i},name {i}\n" for i in ids))
        first += len(ids)
    body = PIPELINE.replace("{schema}", db_schema).replace("{concurrent_runs}", str(concurrent_runs))
    write(tmp_path / "configs" / "backfill.yaml", body)


def launch_backfill(graphql: DagsterGraphQLClient) -> str:
    """One asset backfill of the four load assets over all 100 days; its id."""
    params = {"assetSelection": [{"path": key} for key in LOAD_ASSETS], "partitionNames": DAYS}
    reply = graphql._execute(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert reply["__typename"] == "LaunchBackfillSuccess", reply
    return reply["backfillId"]


def backfill_runs(instance: DagsterInstance, backfill_id: str) -> list[DagsterRun]:
    return list(instance.get_runs(RunsFilter.for_backfill(backfill_id)))


def finished_backfill(instance: DagsterInstance, backfill_id: str) -> BulkActionStatus | None:
    backfill = instance.get_backfill(backfill_id)
    return backfill.status if backfill and backfill.status in BULK_ACTION_TERMINAL_STATUSES else None


@dataclass(frozen=True)
class LoadSpan:
    """When one run's load step held the table's pool: from STEP_START to its end (or the run's failure)."""

    run_id: str
    start: float
    end: float


def load_span(instance: DagsterInstance, run: DagsterRun) -> LoadSpan:
    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    logs = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_START, *ends})
    start = min(e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.STEP_START)
    return LoadSpan(run.run_id, start, min(e.timestamp for e in logs if e.dagster_event_type in ends))


def most_at_once(spans: list[LoadSpan]) -> int:
    """The most spans open at one instant (an end before a start at the same instant)."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def assert_each_day_once(database_url: str, db_schema: str) -> None:
    counts = fetch(
        database_url,
        f'SELECT _elt_partition, count(*), count(DISTINCT id) FROM "{db_schema}".events GROUP BY 1 ORDER BY 1',
    )
    assert counts == [(key, day_rows(key), day_rows(key)) for key in DAYS]


def stop_source_sensor(env: dict[str, str], workspace: Path, cwd: Path) -> None:
    """The source sensor would ask for the same 100 days in runs of its own: stopped before the daemon starts."""
    command = [str(BIN / "dagster"), "sensor", "stop", "backfill_source_sensor", "-w", str(workspace)]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def copying_big_day(database_url: str, db_schema: str) -> bool:
    """Whether a session is inside a load into <db_schema>.events (its last statement a COPY into it) whose
    transaction began over half a second ago: only the big day's loads last that long."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE state IN ('active', 'idle in transaction') "
            "AND query ILIKE 'COPY%%' AND query LIKE %s AND now() - xact_start > interval '0.5 seconds'",
            (f'%"{db_schema}"."events"%',),
        ).fetchone()[0]


def run_holding_big_day(instance: DagsterInstance, backfill_id: str) -> DagsterRun | None:
    for run in backfill_runs(instance, backfill_id):
        first, last = (
            run.tags.get("dagster/asset_partition_range_start"),
            run.tags.get("dagster/asset_partition_range_end"),
        )
        if first and last and first <= BIG_DAY <= last and not run.is_finished:
            return run
    return None


def log_of(tmp_path: Path) -> Path:
    return tmp_path / "daemon.log"


def pool_limited(instance: DagsterInstance, db_schema: str, concurrent_runs: int) -> bool:
    """Whether the table's pool has its limit (the daemon's config_history_sensor sets it at its first tick)."""
    return (
        instance.event_log_storage.get_concurrency_info(f"elt/default/{db_schema}.events").slot_count == concurrent_runs
    )


@contextlib.contextmanager
def deployment(
    tmp_path: Path, home: Path, instance_url: str, database_url: str, db_schema: str, concurrent_runs: int, monkeypatch
) -> Iterator[tuple[DagsterInstance, DagsterGraphQLClient, Path]]:
    """A code server and a webserver (processes) over the 100 days' pipeline, its source sensor stopped; yields
    (instance, GraphQL client, workspace), the daemon still to start."""
    events_pipeline(tmp_path, db_schema, concurrent_runs)
    quick_monitoring(home)
    env = base_env(tmp_path, instance_url, database_url)
    monkeypatch.setenv("ELT_DAGSTER_STORAGE_URL", instance_url)
    with (
        DagsterInstance.from_config(str(home)) as instance,
        code_and_webserver(tmp_path, env) as (admin, workspace),
    ):
        stop_source_sensor(env, workspace, tmp_path)
        yield instance, client(admin), workspace


@pytest.mark.parametrize("concurrent_runs", [1, 2])
def test_one_backfill_of_100_days_loads_each_day_once_with_at_most_concurrent_runs_loads_at_once(
    concurrent_runs: int,
    tmp_path: Path,
    postgres_home: Path,
    instance_url: str,
    database_url: str,
    db_schema: str,
    monkeypatch,
) -> None:
    args = (tmp_path, postgres_home, instance_url, database_url, db_schema, concurrent_runs, monkeypatch)
    with deployment(*args) as (instance, graphql, workspace):
        env = base_env(tmp_path, instance_url, database_url)
        with daemon(tmp_path, env, workspace):
            # without it, the pool's first claims get the instance's default limit (4): two loads overlapped at 1
            wait_for(
                "the table's pool limit", lambda: pool_limited(instance, db_schema, concurrent_runs), log_of(tmp_path)
            )
            backfill_id = launch_backfill(graphql)
            status = wait_for(
                "finished backfill",
                lambda: finished_backfill(instance, backfill_id),
                tmp_path / "daemon.log",
                BACKFILL_SECONDS,
            )
        runs = backfill_runs(instance, backfill_id)
        spans = [load_span(instance, run) for run in runs]
        records = instance.get_run_records(RunsFilter(run_ids=[run.run_id for run in runs]))
    assert status == BulkActionStatus.COMPLETED_SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
    assert len(runs) == 10 and all(run.is_success for run in runs)
    assert_each_day_once(database_url, db_schema)
    assert most_at_once(spans) <= concurrent_runs, spans
    seconds = max(r.end_time for r in records) - min(r.start_time for r in records)
    print(
        f"backfill of {TOTAL_ROWS:,} rows, concurrent_runs {concurrent_runs}: {seconds:.1f} s, "
        f"{TOTAL_ROWS / seconds:,.0f} rows/s; load steps {sorted(round(s.end - s.start, 1) for s in spans)} s"
    )


def test_a_backfill_run_killed_mid_copy_is_marked_failed_retried_and_each_day_loaded_once(
    tmp_path: Path, postgres_home: Path, instance_url: str, database_url: str, db_schema: str, monkeypatch
) -> None:
    args = (tmp_path, postgres_home, instance_url, database_url, db_schema, 1, monkeypatch)
    log = tmp_path / "daemon.log"
    with deployment(*args) as (instance, graphql, workspace):
        with daemon(tmp_path, base_env(tmp_path, instance_url, database_url), workspace):
            wait_for("the table's pool limit", lambda: pool_limited(instance, db_schema, 1), log)
            backfill_id = launch_backfill(graphql)
            # the big day is in the fifth run of ten: the runs before it take what the machine gives them
            wait_for("COPY of the big day", lambda: copying_big_day(database_url, db_schema), log, BACKFILL_SECONDS)
            killed = wait_for("run of the big day", lambda: run_holding_big_day(instance, backfill_id), log)
            pid, _ = wait_for("pid of the run's process", lambda: run_worker(instance, killed.run_id), log)
            os.kill(pid, signal.SIGKILL)  # the run's process: it loads in itself (the in-process executor)
            big_day = fetch(
                database_url, f'SELECT count(*) FROM "{db_schema}".events WHERE _elt_partition = %s', BIG_DAY
            )
            assert big_day == [(0,)], "killed in the big day's load: nothing of it committed"
            status = wait_for(
                "finished backfill", lambda: finished_backfill(instance, backfill_id), log, BACKFILL_SECONDS
            )
        runs = backfill_runs(instance, backfill_id)
        messages = [entry.message for entry in instance.all_logs(killed.run_id)]
        retries = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": killed.run_id}))
        spans = [load_span(instance, run) for run in runs]
        killed_status = instance.get_run_by_id(killed.run_id).status
    assert status == BulkActionStatus.COMPLETED_SUCCESS, log.read_text()[-3000:]
    # whichever notices first: the code server that started the process (it looks every 0.5 s) or run monitoring
    explanations = ("was terminated by signal 9 (SIGKILL)", f"the run's process {pid} no longer exists")
    explained = [message for message in messages if any(text in message for text in explanations)]
    assert explained, messages
    print(f"the killed run {killed.run_id}: {explained[0]}")
    assert killed_status == DagsterRunStatus.FAILURE
    assert [run.status.value for run in retries] == ["SUCCESS"]
    assert {run.run_id for run in runs} - {killed.run_id} == {run.run_id for run in runs if run.is_success}
    assert len(runs) == 11, "ten runs of ten days, and the retry of the killed one"
    assert_each_day_once(database_url, db_schema)
    assert most_at_once(spans) <= 1, spans
