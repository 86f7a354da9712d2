"""kill -9 of partition runs (see `kill_points`): at the COPY of a first load, at the COPY into the stage and at
the delete/insert of a replace, at the commit. After every kill each day holds its old rows or its new ones, whole;
after a clean run, exactly its file's rows, once; the other days untouched."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.kill_points import IMPORTS, Killer, KillPoint, Phase
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.faults.test_crashes import commit_phase
from elt_dagster_tests.pipelines import DAILY_YAML as DAILY

pytestmark = pytest.mark.faults

ROWS = 120_000
RUN = (
    "import sys\nfrom datetime import UTC, datetime, timedelta\nfrom elt_dagster.engine.config import load_config\n"
    "from elt_dagster.engine.config.partitions import PartitionWindow\n"
    "from elt_dagster.engine.partition_run import run_partition\n"
    "start = datetime.fromisoformat(sys.argv[2]).replace(tzinfo=UTC)\n"
    "run_partition(load_config(sys.argv[1]), PartitionWindow(sys.argv[2], start, start + timedelta(days=1)))\n"
)


def write_day(folder: Path, key: str, ids: range, version: str, kept: range = range(0)) -> set[tuple[int, str]]:
    """The day's file: rows `ids` named by `version`, and rows `kept` as version v1 named them."""
    rows = {(i, f"{version} {i}") for i in ids} | {(i, f"v1 {i}") for i in kept}
    write(folder / key / "events.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in sorted(rows)))
    return rows


def day_rows(database_url: str, db_schema: str, key: str) -> tuple[int, set[tuple[int, str]]]:
    rows = fetch(database_url, f'SELECT id, name FROM "{db_schema}".events WHERE _elt_partition = %s', key)
    return len(rows), set(rows)


def phases(database_url: str, loaded: LoadedConfig) -> list[Phase]:
    table = f'"{loaded.config.target.db_schema}"."events"'
    return [
        IMPORTS,
        Phase("COPY", 2, lambda a: a.runs(f"COPY {table}")),  # a first load: straight into the table
        Phase("stage COPY", 2, lambda a: a.runs('COPY "_elt_stage"')),  # a replace: into the stage first
        Phase(
            "replace",
            3,
            lambda a: a.runs(f"DELETE FROM {table} AS t WHERE t._elt_partition") or a.runs(f"INSERT INTO {table}"),
        ),
        commit_phase(database_url, loaded),
    ]


def test_kill_9_of_partition_runs_leaves_each_day_whole_then_exact(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    data = tmp_path / "data"
    days = {
        "2024-01-01": write_day(data, "2024-01-01", range(0, ROWS), "v1"),
        "2024-01-02": write_day(data, "2024-01-02", range(ROWS, 2 * ROWS), "v1"),
    }
    config = make_pipeline(DAILY, name=f"pcrash_{db_schema}")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    phase = {p.name: p for p in phases(database_url, config)}
    killers = {
        key: Killer(database_url, [sys.executable, "-c", RUN, str(config.path), key], env, list(phase.values()))
        for key in days
    }
    kills: Counter[str] = Counter()

    def run(key: str, point: KillPoint | None, allowed: list[set[tuple[int, str]]]) -> None:
        ended = killers[key].run(point)
        if ended != "finished":
            kills[ended] += 1
        count, rows = day_rows(database_url, db_schema, key)
        assert count == len(rows) and rows in allowed, (key, ended, count)  # the old day or the new, whole

    # day 1 first loaded: killed mid-COPY and at the commit, then let finish; day 2 loaded once
    run("2024-01-01", KillPoint(phase["COPY"], 1), [set()])
    run("2024-01-01", KillPoint(phase["commit"], 0), [set()])
    run("2024-01-01", None, [days["2024-01-01"]])
    run("2024-01-02", None, [days["2024-01-02"]])
    # day 1's file edited (a third gone, a third unchanged, a third changed, new rows): replaces killed at each
    # phase, then one finishes
    old = days["2024-01-01"]
    new = write_day(data, "2024-01-01", range(2 * ROWS // 3, ROWS + ROWS // 3), "v2", range(ROWS // 3, 2 * ROWS // 3))
    for point in ("stage COPY", "replace", "commit", "imports"):
        run("2024-01-01", KillPoint(phase[point], 0, 0.5), [old, new])
    run("2024-01-01", None, [new])
    assert day_rows(database_url, db_schema, "2024-01-02") == (ROWS, days["2024-01-02"])  # untouched
    assert {"COPY", "stage COPY", "replace", "commit"} <= set(kills), kills
    counter = fetch(
        database_url, "SELECT row_count FROM elt.table_row_counts WHERE table_name = %s", f"{db_schema}.events"
    )
    assert counter == [(2 * ROWS,)]
    record(
        "kill -9 of partition runs", "9 runs of two days", f"{sum(kills.values())} killed; each day whole, then exact"
    )


WORKERS_RUN = (
    "import sys\nfrom datetime import UTC, datetime, timedelta\nfrom elt_dagster.engine.config import load_config\n"
    "from elt_dagster.engine.config.partitions import PartitionWindow\n"
    "from elt_dagster.engine.partition_run import run_partitions\n"
    "days = [datetime.fromisoformat(key).replace(tzinfo=UTC) for key in sys.argv[2:]]\n"
    "windows = [PartitionWindow(f'{d:%Y-%m-%d}', d, d + timedelta(days=1)) for d in days]\n"
    "run_partitions(load_config(sys.argv[1]), windows)\n"
)


def test_kill_9_of_a_run_and_its_worker_processes_leaves_each_day_whole_then_exact(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """`workers: 2`, four days in one run: the run and its workers killed together (a process group, as when the
    machine dies) mid-COPY and at a commit; after each kill every day holds its old rows or its new ones, whole."""
    data = tmp_path / "data"
    keys = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    old = {key: write_day(data, key, range(n * ROWS, n * ROWS + ROWS // 2), "v1") for n, key in enumerate(keys)}
    config = make_pipeline(DAILY + "workers: 2\n", name=f"wcrash_{db_schema}")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    phase = {p.name: p for p in phases(database_url, config)}
    command = [sys.executable, "-c", WORKERS_RUN, str(config.path), *keys]
    killer = Killer(database_url, command, env, list(phase.values()), group=True)
    kills: Counter[str] = Counter()
    for point in (KillPoint(phase["COPY"], 0), KillPoint(phase["commit"], 0)):
        kills[killer.run(point)] += 1
        for key in keys:
            count, rows = day_rows(database_url, db_schema, key)
            assert count == len(rows) and rows in (set(), old[key]), (key, count)
    assert killer.run(None) == "finished"
    new = {key: write_day(data, key, range(n * ROWS + 7, n * ROWS + ROWS // 2 + 7), "v2") for n, key in enumerate(keys)}
    kills[killer.run(KillPoint(phase["replace"], 0))] += 1
    for key in keys:
        count, rows = day_rows(database_url, db_schema, key)
        assert count == len(rows) and rows in (old[key], new[key]), (key, count)
    assert killer.run(None) == "finished"
    assert all(day_rows(database_url, db_schema, key) == (ROWS // 2, new[key]) for key in keys)
    assert {"COPY", "commit", "replace"} <= set(kills), kills
    record("kill -9 of partition runs", "a run of 4 days in 2 workers", f"{sum(kills.values())} killed; whole, exact")
