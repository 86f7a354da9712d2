"""The load session, by itself against a real PostgreSQL: one source's batches in, its counts, the quarantine and
the row counter; a source read again after its savepoint rolled back counts once; run and replay use it alone."""

from __future__ import annotations

import re
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
from elt_dagster.engine.transform.validate import pipeline_column_types
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.pipelines import ITEMS_YAML

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
