"""kill -9 during scd2 and snapshot loads (see `kill_points`): after the runs left to finish, the table holds
exactly the expected versions and deletions, and a re-run changes nothing."""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.kill_points import IMPORTS, Killer, KillPoint, Phase
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.faults.test_crashes import commit_phase

pytestmark = pytest.mark.faults

KEYS = 50_000
RUN = "import sys\nfrom elt_dagster.engine.config import load_config\nfrom elt_dagster.engine.run import run_pipeline\n"
RUN += "run_pipeline(load_config(sys.argv[1]), full_refresh=True)  # every run reads all: more to interrupt\n"
HISTORY_YAML = """
sources:
  - path: ../data
target:
  table: people
  db_schema: {schema}
  mode: scd2
  primary_key: [id]
  delete_column: gone
workers: 2
schema:
  columns:
    id: integer
    name: string
    gone: boolean
"""
SNAPSHOT_YAML = """
sources:
  - path: ../data
    snapshot: true
target:
  table: people
  db_schema: {schema}
  mode: merge
  primary_key: [id]
  delete: hard
schema:
  columns:
    id: integer
    name: string
"""


def load_phases(database_url: str, loaded: LoadedConfig) -> list[Phase]:
    """Staging the rows, writing the versions (or deleting), and the commit, as the run's connection shows them.

    Writing is held open, whatever the machine's speed: key 0 changes (or is deleted) in every second load, and a
    lock on its row, taken here, makes the run's `UPDATE` (or `DELETE`) of the table wait on it."""
    table = f'"{loaded.config.target.db_schema}"."people"'
    writes = (f"UPDATE {table} AS t SET", f"DELETE FROM {table} AS t")
    return [
        IMPORTS,
        Phase("staging", 2, lambda a: a.runs('COPY "_elt_')),
        Phase(
            "writing",
            3,
            lambda a: a.waiting_on_lock and any(a.runs(prefix) for prefix in writes),
            (f"SELECT 1 FROM {table} WHERE id = 0 FOR UPDATE", ()),
        ),
        commit_phase(database_url, loaded),
    ]


def kill_runs(database_url: str, loaded: LoadedConfig, seed: int) -> Counter[str]:
    """Runs killed at each phase (a seeded order), one left to finish after each round; the phases killed in."""
    phases = {phase.name: phase for phase in load_phases(database_url, loaded)}
    generator = random.Random(seed)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    killer = Killer(database_url, [sys.executable, "-c", RUN, str(loaded.path)], env, list(phases.values()))
    kills: Counter[str] = Counter()
    for _ in range(2):
        names = generator.sample(["imports", "staging", "writing", "writing", "commit"], 5)
        for name in [*names, None]:
            point = KillPoint(phases[name], 0, generator.uniform(0.1, 0.8)) if name else None
            kills[killer.run(point)] += 1
    return kills


def test_kill_9_during_scd2_loads_keeps_each_version_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name,gone\n" + "".join(f"{i},n{i},no\n" for i in range(KEYS)))
    config = make_pipeline(HISTORY_YAML, name=f"history_{db_schema}")
    run_pipeline(config)
    changed = {i for i in range(KEYS) if i % 5 == 0}
    deleted = {i for i in range(KEYS) if i % 20 == 1}
    lines = [f"{i},{'m' if i in changed else 'n'}{i},{'yes' if i in deleted else 'no'}\n" for i in range(KEYS)]
    write(tmp_path / "data" / "b.csv", "id,name,gone\n" + "".join(lines))
    os.utime(tmp_path / "data" / "b.csv", (2e9, 2e9))  # read after a.csv: its rows win
    kills = kill_runs(database_url, config, 20261206)
    assert {"writing", "commit"} <= set(kills), kills  # held: seen for sure (staging may be too short to see)
    again = run_pipeline(config, full_refresh=True)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    versions = fetch(
        database_url,
        f"SELECT count(*), count(*) FILTER (WHERE _elt_valid_to IS NULL), "
        f"count(*) FILTER (WHERE _elt_deleted_at IS NOT NULL), count(DISTINCT (id, name)) "
        f'FROM "{db_schema}".people',
    )
    assert versions == [(KEYS + len(changed), KEYS - len(deleted), len(deleted), KEYS + len(changed))]
    current = fetch(database_url, f'SELECT count(*) FROM "{db_schema}".people_current WHERE name LIKE %s', "m%")
    assert current == [(len(changed),)]
    record("kill -9 mid-scd2", f"{sum(kills.values())} runs then a re-run", "each version once, deletes closed")


def test_kill_9_during_snapshot_deletes_keeps_or_deletes_each_key(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    snapshot = tmp_path / "data" / "snapshot.csv"
    write(snapshot, "id,name\n" + "".join(f"{i},n{i}\n" for i in range(KEYS)))
    config = make_pipeline(SNAPSHOT_YAML, name=f"snapshot_{db_schema}")
    run_pipeline(config)
    kept = [i for i in range(KEYS) if i % 10]
    write(snapshot, "id,name\n" + "".join(f"{i},n{i}\n" for i in kept))
    kills = kill_runs(database_url, config, 20261207)
    assert {"writing", "commit"} <= set(kills), kills  # held: seen for sure (staging may be too short to see)
    assert run_pipeline(config, full_refresh=True).deleted == 0
    stored = fetch(database_url, f'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "{db_schema}".people')
    assert stored == [(len(kept), len(kept), 1, KEYS - 1)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".people WHERE id % 10 = 0') == [(0,)]
    record("kill -9 mid-snapshot", f"{sum(kills.values())} runs then a re-run", "absent keys deleted once")
