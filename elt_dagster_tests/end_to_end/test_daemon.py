"""End to end with Dagster's own daemon: a file dropped into a source folder lands in PostgreSQL, once."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.webserver import running_process

DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
WAIT_SECONDS = 120


def wait_for(check, seconds: float = WAIT_SECONDS, every: float = 1.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    return check()


def finished_ticks(home: Path, sensor: str, after: float) -> int:
    """How many ticks of `sensor` the daemon finished (skipped or launched) that started after `after`."""
    instance = DagsterInstance.from_config(str(home))
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == sensor:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
            return sum(tick.status in (TickStatus.SKIPPED, TickStatus.SUCCESS) for tick in ticks)
    return 0


def count_rows(database_url: str, db_schema: str) -> int:
    exists = fetch(database_url, "SELECT to_regclass(%s) IS NOT NULL", f'"{db_schema}".events')[0][0]
    return fetch(database_url, f'SELECT count(*) FROM "{db_schema}".events')[0][0] if exists else 0


def test_daemon_sensor_loads_a_dropped_file_once(tmp_path: Path, database_url: str, db_schema: str) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (tmp_path / "data").mkdir()
    write(
        tmp_path / "configs" / "events.yaml",
        f"""
        sources:
          - type: local
            path: ../data
        target:
          table: events
          db_schema: {db_schema}
        schema:
          columns:
            id: integer
            name: string
        monitor_interval_seconds: 5
        """,
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ELT_CONFIG_DIR": str(tmp_path / "configs"),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "PYTHONWARNINGS": "ignore",
    }
    with running_process([DAEMON, "run", "-m", "elt_dagster"], env, tmp_path, tmp_path / "daemon.log") as daemon:
        write(tmp_path / "data" / "first.csv", "id,name\n1,a\n2,b\n3,c\n")
        assert wait_for(lambda: count_rows(database_url, db_schema) == 3), (tmp_path / "daemon.log").read_text()[-3000:]
        landed = time.time()
        # two more sensor ticks, seen in the daemon's tick history: nothing changed, so nothing more is launched
        assert wait_for(lambda: finished_ticks(home, "events_source_sensor", landed) >= 2)
        instance = DagsterInstance.from_config(str(home))
        runs = instance.get_runs(RunsFilter(job_name="events_elt"))
        assert len(runs) == 1 and runs[0].status == DagsterRunStatus.SUCCESS
        assert runs[0].tags["elt/config_version"] == "1" and len(runs[0].tags["elt/config_hash"]) == 64
        assert count_rows(database_url, db_schema) == 3
    assert daemon.returncode is not None
