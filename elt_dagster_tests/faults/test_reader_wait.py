"""A reader polling the target table (`SELECT count(*)` every 100 ms) during loads: its longest wait, under 1 s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.pipelines import items_yaml

pytestmark = pytest.mark.faults

ROWS = 300_000


class Reader(threading.Thread):
    """Counts the table's rows every 100 ms; `longest` is the slowest count's time in seconds."""

    def __init__(self, url: str, table: str):
        super().__init__(daemon=True)
        self.url, self.table, self.longest, self.counts = url, table, 0.0, 0
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.is_set():
                started = time.monotonic()
                conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()
                self.longest = max(self.longest, time.monotonic() - started)
                self.counts += 1
                self.done.wait(0.1)


def rows(start: int, count: int) -> str:
    return "id,name\n" + "".join(f"{i},name {i}\n" for i in range(start, start + count))


@pytest.mark.parametrize(
    ("mode", "before", "incoming"),
    [("append", 100_000, 300_000), ("append", 300_000, 20_000), ("merge", 300_000, 300_000)],
    ids=["big append", "small append", "merge"],
)
def test_a_reader_s_longest_wait_during_a_load_into_an_existing_table(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, mode: str, before: int, incoming: int
) -> None:
    write(tmp_path / "data" / "a.csv", rows(0, before))
    merge = "mode: merge\nprimary_key: [id]" if mode == "merge" else ""
    config = make_pipeline(items_yaml(merge), name=f"reader_{mode}_{db_schema}")
    run_pipeline(config)
    overlap = min(before, incoming // 2)
    write(tmp_path / "data" / "b.csv", rows(before - overlap, incoming))  # some rows already there
    reader = Reader(database_url, f'"{db_schema}".items')
    reader.start()
    while reader.counts < 3 and reader.is_alive():  # the reader is connected and counting before the load starts
        reader.done.wait(0.01)
    report = run_pipeline(config)
    reader.done.set()
    reader.join(timeout=30)
    assert report.inserted == incoming - overlap and reader.counts > 2
    assert reader.longest < 1.0, reader.longest  # the throughput issue's limit: loads never freeze readers
    loaded = f"{report.strategy}: {incoming:,} rows into {before:,}"
    record("reader during a load", loaded, f"{loaded}, longest wait {reader.longest:.1f} s")
