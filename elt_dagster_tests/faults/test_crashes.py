"""Crashes and races: kill -9 at each phase of a run (see `kill_points`), concurrent runs; the table ends with each
distinct row once."""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import qualified_name, run_pipeline
from elt_dagster.engine.state.schema import ensure_state_tables
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.kill_points import IMPORTS, Activity, Killer, KillPoint, Phase
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.pipelines import ITEMS_YAML

pytestmark = pytest.mark.faults

ROWS = 150_000
RUN = "import sys\nfrom elt_dagster.engine.config import load_config\nfrom elt_dagster.engine.run import run_pipeline\n"
RUN += "run_pipeline(load_config(sys.argv[1]), full_refresh=True)  # every run reads all: more to interrupt\n"


def write_data(folder: Path) -> None:
    """Three files; every tenth row of each repeats a row of the first, so dedup has work to do."""
    for part in range(3):
        lines = [f"{i % 1000 if i % 10 == 0 else part * ROWS + i},name {i}" for i in range(ROWS)]
        write(folder / f"part{part}.csv", "id,name\n" + "\n".join(lines) + "\n")


def is_load_statement(activity: Activity, table: str) -> bool:
    """A COPY into `table`, or a lookup of incoming hashes in it (a table loaded before)."""
    return activity.query.startswith(f"COPY {table}") or (
        "uuid_send(_elt_row_hash)" in activity.query and table in activity.query
    )


def load_phases(database_url: str, loaded: LoadedConfig) -> dict[str, Phase]:
    """The phases of a run into `items`, as its connection shows them."""
    table = f'"{loaded.config.target.db_schema}"."items"'
    phases = (
        IMPORTS,
        Phase(  # the client reads, validates and hashes a batch: between two load statements, or before the first
            "reading",
            2,
            lambda a: (
                a.state == "idle in transaction"
                and (a.query.startswith(("SAVEPOINT", "TRUNCATE")) or is_load_statement(a, table))
            ),
        ),
        Phase("COPY", 2, lambda a: a.runs(f"COPY {table}")),
        Phase("probe", 2, lambda a: a.state == "active" and is_load_statement(a, table) and not a.runs("COPY")),
        Phase(  # the bulk load's unique index built once, its repeated rows removed
            "index build",
            3,
            lambda a: a.runs('CREATE UNIQUE INDEX "items__row_hash"') or a.runs(f"DELETE FROM {table} WHERE ctid"),
        ),
        commit_phase(database_url, loaded),
    )
    return {phase.name: phase for phase in phases}


def commit_phase(database_url: str, loaded: LoadedConfig) -> Phase:
    """The last statement before COMMIT (rows, fingerprints and index all written): the update of the table's row
    counter, held by a lock on its row (inserted, uncommitted, if there is none yet). So a kill at commit lands for
    sure, and one aimed at an earlier phase lands in the run at the latest."""
    with psycopg.connect(database_url) as conn:
        ensure_state_tables(conn)
    hold = (
        "INSERT INTO elt.table_row_counts (table_name, row_count) VALUES (%s, 0) "
        "ON CONFLICT (table_name) DO UPDATE SET row_count = elt.table_row_counts.row_count",
        (qualified_name(loaded.config.target),),
    )
    return Phase("commit", 4, lambda a: a.waiting_on_lock and "elt.table_row_counts" in a.query, hold)


def kill_points(
    generator: random.Random, phases: dict[str, Phase], names: list[str], occurrences: dict[str, int]
) -> list[KillPoint]:
    """A kill at each of the phases `names` in a seeded order, each at one of the first `occurrences[name]` times it
    is seen (once if not given); a kill in the imports at 10-80% of the startups seen before."""
    order = generator.sample(names, len(names))
    return [
        KillPoint(phases[name], generator.randrange(occurrences.get(name, 1)), generator.uniform(0.1, 0.8))
        for name in order
    ]


def test_kill_9_at_random_moments_then_a_rerun_loads_each_row_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """kill -9 at each phase of a run (a seeded order, each at a seeded occurrence), into a new table and into a
    loaded one; three runs are left to finish. A re-run then leaves each distinct row once. `workers: 2`: each run
    checks and encodes two batches at once in threads (whatever the machine's cores), one transaction."""
    write_data(tmp_path / "data")
    # bookkeeping in schema elt is shared by all tests: a pipeline name of the test's own
    config = make_pipeline(ITEMS_YAML + "workers: 2\n", name=f"crash_{db_schema}")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    generator = random.Random(20261128)
    phase = load_phases(database_url, config)
    killer = Killer(database_url, [sys.executable, "-c", RUN, str(config.path)], env, list(phase.values()))

    occurrences = {"reading": 6, "COPY": 5, "probe": 8, "index build": 2}

    def kills_at(*names: str) -> list[KillPoint]:
        return kill_points(generator, phase, list(names), occurrences)

    # into a new table (nothing committed before a run is left to finish), then into the loaded table, twice
    first = [*kills_at("reading"), *kills_at("COPY", "COPY", "index build", "index build", "commit", "imports")]
    loaded = [kills_at("imports", "reading", "probe", last, "commit") for last in ("probe", "commit")]
    schedule = [*first, None, *loaded[0], None, *loaded[1], None]
    outcomes = {"killed": 0, "finished": 0}
    kills: Counter[str] = Counter()
    for attempt, point in enumerate(schedule):
        if attempt % 5 == 4:  # now and then a file changes under the next runs
            os.utime(tmp_path / "data" / f"part{attempt % 3}.csv")
        ended = killer.run(point)
        if ended == "finished":
            outcomes["finished"] += 1
        else:
            outcomes["killed"] += 1
            kills[ended] += 1
    assert outcomes["killed"] >= 10, outcomes
    assert {"imports", "reading", "COPY", "index build", "commit"} <= set(kills), kills
    run_pipeline(config, full_refresh=True)
    expected = {(i % 1000 if i % 10 == 0 else part * ROWS + i, f"name {i}") for part in range(3) for i in range(ROWS)}
    stored = fetch(database_url, f'SELECT count(*), count(DISTINCT (id, name)) FROM "{db_schema}".items')
    assert stored == [(len(expected), len(expected))]
    fingerprints = fetch(
        database_url,
        "SELECT count(*), sum(rows) FROM elt.file_fingerprints WHERE pipeline = %s AND path LIKE %s",
        config.name,
        f"{tmp_path}%",
    )
    assert fingerprints == [(3, 3 * ROWS)]
    record(
        "kill -9 mid-load",
        "20 runs (2 workers) then a re-run",
        f"{outcomes['killed']} killed; each row once after the re-run",
    )


def test_two_runs_of_one_pipeline_and_two_pipelines_into_one_table_at_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_data(tmp_path / "data")
    configs = [make_pipeline(ITEMS_YAML, name=f"{name}_{db_schema}") for name in ("first", "second")]
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(run_pipeline, [configs[0], configs[0], configs[1], configs[1]]))
    distinct = fetch(database_url, f'SELECT count(*), count(DISTINCT (id, name)) FROM "{db_schema}".items')
    assert distinct[0][0] == distinct[0][1] == sum(r.inserted for r in reports)
    assert max(r.row_count for r in reports) == distinct[0][0]  # one counter per table, whichever pipeline loads
    record("concurrent runs", "2 runs of one pipeline + 2 pipelines, one table", "0 duplicates")
    assert distinct[0][0] == len(
        {(i % 1000 if i % 10 == 0 else p * ROWS + i, i) for p in range(3) for i in range(ROWS)}
    )


REPLAY = "import sys\nfrom elt_dagster.engine.config import load_config\nfrom elt_dagster.engine.replay import replay_rejects\n"
REPLAY += "replay_rejects(load_config(sys.argv[1]))\n"


def test_kill_9_mid_replay_loses_or_duplicates_nothing(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """After every kill, each record is in the table or in quarantine, never both, never neither."""
    rows = 60_000
    lines = [f"{i},{13 + i % 16}/{1 + i % 12:02d}/2024" for i in range(rows)]
    write(tmp_path / "data" / "days.csv", "id,day\n" + "\n".join(lines) + "\n")
    body = "sources:\n  - path: ../data\ntarget:\n  db_schema: {schema}\n  table: items\nschema:\n  columns:\n"
    body += "    id: integer\n"
    name = f"replay_{db_schema}"
    first = run_pipeline(make_pipeline(body + "    day: date\n", name=name))
    assert (first.inserted, first.rejected) == (0, rows)  # day first, day > 12: never a US date
    fixed = make_pipeline(body + "    day: {type: date, format: '%d/%m/%Y'}\n", name=name)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    generator = random.Random(20261129)
    table, quarantine = f'"{db_schema}"."items"', f'"{db_schema}"."items__rejected"'
    phases = (
        IMPORTS,
        Phase(  # records fetched on the second connection, turned into a batch while the first one waits
            "reading",
            2,
            lambda a: a.runs("FETCH FORWARD") or (a.state == "idle in transaction" and a.query.startswith("SAVEPOINT")),
        ),
        Phase("COPY", 2, lambda a: a.runs(f"COPY {table}")),
        Phase(  # the records loaded leave quarantine; it waits on one of them, locked here
            "quarantine release",
            3,
            lambda a: a.runs(f"DELETE FROM {quarantine} q USING _elt_replay"),
            (f"SELECT FROM {quarantine} WHERE id = (SELECT max(id) FROM {quarantine}) FOR UPDATE", ()),
        ),
        commit_phase(database_url, fixed),
    )
    phase = {phase.name: phase for phase in phases}
    killer = Killer(database_url, [sys.executable, "-c", REPLAY, str(fixed.path)], env, phases)
    later = ["COPY", "quarantine release", "commit", "imports", "reading"]  # the first kill times the startup
    schedule = [
        *kill_points(generator, phase, ["reading"], {"reading": 2}),
        *kill_points(generator, phase, later, {"reading": 2, "COPY": 4}),
    ]
    count = f"SELECT (SELECT count(*) FROM {table}), (SELECT count(*) FROM {quarantine})"
    kills: Counter[str] = Counter()
    for point in schedule:
        ended = killer.run(point)
        if ended != "finished":
            kills[ended] += 1
        loaded, quarantined = fetch(database_url, count)[0]
        assert loaded + quarantined == rows, (loaded, quarantined)
        if not quarantined:
            break
    killed = kills.total()
    assert killed >= 1
    assert set(phase) <= set(kills), kills
    replay_rejects(fixed)
    assert fetch(database_url, count) == [(rows, 0)]
    assert fetch(database_url, f'SELECT count(DISTINCT id) FROM "{db_schema}".items') == [(rows,)]
    record("kill -9 mid-replay", f"{killed} replays of {rows:,} quarantined rows killed", "each row once, none lost")
