"""kill -9 during loads of an s3 source (see `kill_points`), on the real `s3_server`: while its objects are being
downloaded into the run's folder, while rows are copied into the table (an append load has no staging table), and
at the commit. After the runs left to finish and a
re-run, every row of every object is in the table once."""

from __future__ import annotations

import os
import random
import shutil
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.engine.sources.objects.test_s3 import put
from elt_dagster_tests.faults.kill_points import IMPORTS, Activity, Killer, KillPoint, Phase
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.faults.test_crashes import commit_phase

pytestmark = pytest.mark.faults

OBJECTS, ROWS_PER_OBJECT = 24, 20_000
RUN = "import sys\nfrom elt_dagster.engine.config import load_config\nfrom elt_dagster.engine.run import run_pipeline\n"
RUN += "run_pipeline(load_config(sys.argv[1]), full_refresh=True)  # every run downloads all: more to interrupt\n"


def downloading_phase(state: Path, pipeline: str) -> Phase:
    """The run's objects being copied into its folder (`runs/<pipeline>/<run>/objects/`, emptied before each run),
    before any row is copied: seen from the files, while the run's connection waits idle."""
    runs = state / "runs" / pipeline

    def seen(activity: Activity) -> bool:
        return activity.state.startswith("idle") and any(runs.glob("*/objects/*"))

    return Phase("downloading", 1, seen)


def load_phases(database_url: str, loaded: LoadedConfig, state: Path) -> list[Phase]:
    table = f'"{loaded.config.target.db_schema}"."events"'
    return [
        IMPORTS,
        downloading_phase(state, loaded.name),
        Phase("writing", 3, lambda a: a.runs(f"COPY {table}") or a.runs(f"INSERT INTO {table}")),
        commit_phase(database_url, loaded),
    ]


def fill_bucket(server, bucket: str) -> None:
    """OBJECTS CSV objects of ROWS_PER_OBJECT rows each, ids unique across them."""
    server.filesystem().create_dir(bucket)

    def put_one(index: int) -> None:
        first = index * ROWS_PER_OBJECT
        rows = "".join(f"{i},event {i},{i % 97}\n" for i in range(first, first + ROWS_PER_OBJECT))
        put(server, bucket, f"events/{index:03d}.csv", ("id,name,weight\n" + rows).encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put_one, range(OBJECTS)))


def test_kill_9_while_downloading_and_loading_objects_then_a_rerun_keeps_every_row_once(
    s3_server, tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    bucket = f"crash-{uuid.uuid4().hex[:10]}"
    fill_bucket(s3_server, bucket)
    loaded = make_pipeline(
        f"""
        sources:
          - type: s3
            url: s3://{bucket}/events/
            pattern: "*.csv"
            endpoint_url: {s3_server.endpoint_url}
            access_key_id: {s3_server.access_key}
            secret_access_key: ${{S3_SECRET}}
        target:
          table: events
          db_schema: {{schema}}
        schema:
          columns:
            id: integer
            name: string
            weight: integer
        """,
        name=f"objects_{db_schema}",
    )
    state = Path(os.environ["ELT_STATE_DIR"])
    phases = {phase.name: phase for phase in load_phases(database_url, loaded, state)}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    killer = Killer(database_url, [sys.executable, "-c", RUN, str(loaded.path)], env, list(phases.values()))
    generator = random.Random(20261208)
    kills: Counter[str] = Counter()
    # first into the empty table (its rows copied in: the writing phase), then, with a startup time known, into the
    # full one (every row already there: nothing is written)
    for names in (
        ["downloading", "downloading", "writing", "writing", "commit"],
        ["imports", "downloading", "commit"],
    ):
        for name in [*generator.sample(names, len(names)), None]:
            point = KillPoint(phases[name], 0, generator.uniform(0.1, 0.8)) if name else None
            shutil.rmtree(state / "runs", ignore_errors=True)  # a killed run's folder: not this run's download
            kills[killer.run(point)] += 1
    assert {"downloading", "writing", "commit"} <= set(kills), kills
    again = run_pipeline(loaded, full_refresh=True)
    assert again.inserted == 0 and len(again.files) == OBJECTS
    total = OBJECTS * ROWS_PER_OBJECT
    stored = fetch(database_url, f'SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "{db_schema}".events')
    assert stored == [(total, total, 0, total - 1)]
    record("kill -9 mid-load (s3)", f"{sum(kills.values())} runs then a re-run", "every row of every object once")
