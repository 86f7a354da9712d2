"""The load session, by itself against a real PostgreSQL: one source's batches in, its counts, the quarantine and
the row counter; a source read again after its savepoint rolled back counts once; run and replay use it alone."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.db import connect
from elt_dagster.engine.load.session import Batches, LoadCounts, LoadSession
from elt_dagster.engine.names import SOURCE_COLUMN, SOURCE_ROW_COLUMN
from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.state.schema import ensure_state_tables
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import pipeline_column_types
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.pipelines import ITEMS_YAML, items_yaml

ENGINE = Path(__file__).parents[3] / "elt_dagster" / "engine"


def batch(rows: list[tuple[str, str]], source: str) -> tuple[pa.Table, int]:
    """Conformed text rows of `source`, as a reader makes them (no malformed rows)."""
    ids, names = zip(*rows, strict=True) if rows else ((), ())
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "name": pa.array(names, pa.string()),
            SOURCE_COLUMN: pa.array([source] * len(rows), pa.string()),
            SOURCE_ROW_COLUMN: pa.array(np.arange(1, len(rows) + 1, dtype=np.int64)),
        }
    )
    return table, 0


class ReadFailed(Exception):
    pass


@pytest.fixture
def items(tmp_path: Path, make_pipeline) -> LoadedConfig:
    (tmp_path / "data").mkdir()
    return make_pipeline(ITEMS_YAML)


def load(
    database_url: str,
    loaded: LoadedConfig,
    folder: Path,
    run_id: str,
    read: Callable[[Callable[[Batches], None]], None],
    incoming: int = 100,
) -> LoadCounts:
    types = pipeline_column_types(loaded, ["id", "name"])
    with connect(database_url) as conn, StagingWriter(folder, list(types)) as staging:
        ensure_state_tables(conn)  # as the run's lock does first
        conn.commit()
        with conn.transaction():
            session = LoadSession(conn, loaded, types, run_id, staging, incoming_bytes=incoming)
            session.load_source("a.csv", read)
            return session.finish()


def test_a_session_loads_counts_quarantines_and_moves_the_row_counter(
    tmp_path: Path, items: LoadedConfig, database_url: str, db_schema: str
) -> None:
    loaded = items
    rows = [("1", "x"), ("2", "y"), ("zz", "bad"), ("1", "x")]
    counts = load(database_url, loaded, tmp_path / "s1", "r1", lambda copy: copy(iter([batch(rows, "a.csv")])))
    assert (counts.strategy, counts.rows_valid, counts.invalid, counts.inserted, counts.row_count) == (
        "bulk",
        3,
        1,
        2,
        2,
    )
    assert counts.strategy_reason.startswith("the table is new")
    assert fetch(database_url, f'SELECT id, name FROM "{db_schema}".items ORDER BY id') == [(1, "x"), (2, "y")]
    assert fetch(database_url, f'SELECT column_name FROM "{db_schema}".items__rejected') == [("id",)]
    more = [("2", "y"), ("3", "z")]
    again = load(database_url, loaded, tmp_path / "s2", "r2", lambda copy: copy(iter([batch(more, "b.csv")])))
    assert (again.strategy, again.inserted, again.row_count) == ("probe", 1, 3)


@pytest.mark.parametrize("existing", ["", "probe", "hashset"], ids=["new table", "probe", "hashset"])
def test_a_source_read_again_after_its_savepoint_rolled_back_counts_once(
    tmp_path: Path, items: LoadedConfig, database_url: str, db_schema: str, existing: str
) -> None:
    """The strategy counts a source's rows once all its batches are in: the first, failed attempt is not counted."""
    loaded = items
    if existing:
        load(database_url, loaded, tmp_path / "s0", "r0", lambda copy: copy(iter([batch([("9", "old")], "o.csv")])))
    rows = [("1", "x"), ("2", "y")]

    def first_batch_then_failure() -> Iterator[tuple[pa.Table, int]]:
        yield batch(rows, "a.csv")
        raise ReadFailed

    def read_twice(copy) -> None:
        with pytest.raises(ReadFailed):
            copy(first_batch_then_failure())
        copy(iter([batch(rows, "a.csv")]))

    counts = load(database_url, loaded, tmp_path / "s1", "r1", read_twice, 10**9 if existing == "hashset" else 100)
    assert counts.strategy == (existing or "bulk")
    assert (counts.inserted, counts.rows_valid, counts.row_count) == (2, 2, 3 if existing else 2)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(3 if existing else 2,)]


def test_run_and_replay_load_only_through_the_session() -> None:
    """The load sequence is written once: neither run.py nor replay.py ensures tables, picks a strategy, finishes
    it, quarantines rejects or moves the row counter after a load itself."""
    steps = r"\b(ensure_tables|stored_types|open_strategy|choose_strategy|BatchChecker|quarantine)\("
    for module in ("run.py", "replay.py"):
        text = (ENGINE / module).read_text(encoding="utf-8")
        assert not re.findall(steps, text), module
        assert "LoadSession(" in text, module


def numbered_batches(count: int, size: int, key_modulo: int | None = None) -> list[tuple[pa.Table, int]]:
    """`count` batches of `size` rows of one source, numbered on from batch to batch; every 17th id is not an
    integer (a reject); with `key_modulo` ids repeat across batches (merge: the last one read wins)."""
    batches = []
    for b in range(count):
        rows = []
        for i in range(size):
            n = b * size + i
            ident = f"bad{n}" if n % 17 == 5 else str(n % key_modulo if key_modulo else n)
            rows.append((ident, f"name {n}"))
        table, _ = batch(rows, "a.csv")
        numbers = pa.array(np.arange(b * size + 1, (b + 1) * size + 1, dtype=np.int64))
        batches.append((table.set_column(3, SOURCE_ROW_COLUMN, numbers), 0))
    return batches


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_workers_check_batches_in_threads_with_the_same_result_as_one(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """`workers` above 1 validates, hashes (and, but in merge, prepares) batches in threads at once: the table, the
    quarantine (in the order read) and the counts are those of one worker; merge's last row of a key still wins."""
    threads: set[str] = set()
    check = BatchChecker.check

    def spied(self: BatchChecker, table: pa.Table):
        threads.add(threading.current_thread().name)
        return check(self, table)

    monkeypatch.setattr(BatchChecker, "check", spied)
    (tmp_path / "data").mkdir()
    target = "mode: merge\nprimary_key: [id]" if mode == "merge" else ""
    results = {}
    for workers in (1, 3):
        yaml = items_yaml(target).replace("table: items", f"table: items_{workers}") + f"workers: {workers}\n"
        loaded = make_pipeline(yaml, name=f"items_{workers}")
        batches = numbered_batches(12, 50, key_modulo=60 if mode == "merge" else None)
        counts = load(
            database_url, loaded, tmp_path / f"w{workers}", f"r{workers}", lambda copy, b=batches: copy(iter(b))
        )
        table = f'"{db_schema}".items_{workers}'
        results[workers] = (
            (counts.rows_valid, counts.invalid, counts.inserted, counts.updated, counts.row_count),
            fetch(database_url, f"SELECT id, name, _elt_row_hash FROM {table} ORDER BY id"),
            fetch(database_url, f"SELECT source_row, reason FROM {table}__rejected ORDER BY id"),
        )
    assert results[3] == results[1]
    valid, invalid = results[1][0][:2]
    assert (valid + invalid, invalid) == (600, 35)
    if mode == "merge":
        assert results[1][1][0][:2] == (0, "name 540")  # the last row of key 0 read
    assert any(name.startswith("elt-batch") for name in threads)
