"""Crashes and races: kill -9 at random moments, concurrent runs; the table ends with each distinct row once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
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


def test_kill_9_at_random_moments_then_a_rerun_loads_each_row_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_data(tmp_path / "data")
    config = make_pipeline(ITEMS_YAML, name=f"crash_{db_schema}")  # bookkeeping in schema elt is shared by all tests
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    generator = random.Random(20261128)
    outcomes = {"killed": 0, "finished": 0}
    for attempt in range(20):
        if attempt % 5 == 4:  # now and then a file changes under the next runs
            os.utime(tmp_path / "data" / f"part{attempt % 3}.csv")
        process = subprocess.Popen([sys.executable, "-c", RUN, str(config.path)], env=env)
        time.sleep(generator.uniform(0.3, 3.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            outcomes["killed"] += 1
        else:
            outcomes["finished"] += 1
        process.wait(timeout=60)
    assert outcomes["killed"] >= 10, outcomes
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
    record("kill -9 mid-load", "20 runs then a re-run", f"{outcomes['killed']} killed; each row once after the re-run")


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
    count = f'SELECT (SELECT count(*) FROM "{db_schema}".items), (SELECT count(*) FROM "{db_schema}".items__rejected)'
    killed = 0
    for _ in range(6):
        process = subprocess.Popen([sys.executable, "-c", REPLAY, str(fixed.path)], env=env)
        time.sleep(generator.uniform(0.5, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=60)
        loaded, quarantined = fetch(database_url, count)[0]
        assert loaded + quarantined == rows, (loaded, quarantined)
        if not quarantined:
            break
    assert killed >= 1
    replay_rejects(fixed)
    assert fetch(database_url, count) == [(rows, 0)]
    assert fetch(database_url, f'SELECT count(DISTINCT id) FROM "{db_schema}".items') == [(rows,)]
    record("kill -9 mid-replay", f"{killed} replays of {rows:,} quarantined rows killed", "each row once, none lost")
