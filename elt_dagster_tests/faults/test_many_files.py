"""10,000 small files in one run: they used to exhaust PostgreSQL's lock table (a DDL per file, each holding a lock
until the commit: `out of shared memory` after ~6 minutes, nothing committed, every retry the same)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.load import session as session_module
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.engine.load.test_small_files import mislabelled, write_files
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.pipelines import items_yaml

pytestmark = pytest.mark.faults

FILES = 10_000


def test_ten_thousand_three_row_files_into_a_new_table(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path / "data", FILES)
    held: list[int] = []
    original = session_module.quarantine

    def counted(conn: psycopg.Connection, *args: object) -> None:  # every file loaded, not yet committed
        held.append(conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()").fetchone()[0])
        original(conn, *args)

    monkeypatch.setattr(session_module, "quarantine", counted)
    report = run_pipeline(make_pipeline(items_yaml()))
    table = f'"{db_schema}".items'
    assert (report.strategy, report.inserted) == ("bulk", 3 * FILES)
    assert fetch(database_url, f"SELECT count(*) FROM {table}") == [(3 * FILES,)]
    assert mislabelled(database_url, table, tmp_path / "data") == 0
    assert held[0] < 100, f"{held[0]} locks held until the commit"
    record("many files", f"{FILES:,} CSV files of 3 rows, new table", f"loaded in one run, {held[0]} locks held")


def test_ten_thousand_files_with_broken_ones_merged_then_run_again(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    folder = tmp_path / "data"
    write_files(folder, FILES)
    for n in range(0, FILES, 100):  # a record with a field too many: read again exactly, set aside
        path = folder / f"f{n:05d}.csv"
        path.write_text(path.read_text() + f"{3 * n},extra,field\n")
    for n in range(50, FILES, 100):  # a value that is not an integer: quarantined by validation
        path = folder / f"f{n:05d}.csv"
        path.write_text(path.read_text().replace(f"{3 * n},", "three,", 1))
    config = make_pipeline(items_yaml("mode: merge\nprimary_key: [id]"))
    report = run_pipeline(config)
    loaded = 3 * FILES - FILES // 100
    assert (report.inserted, report.malformed, report.invalid) == (loaded, FILES // 100, FILES // 100)
    table = f'"{db_schema}".items'
    assert fetch(database_url, f"SELECT count(*) FROM {table}") == [(loaded,)]
    assert mislabelled(database_url, table, folder) == 0
    quarantined = fetch(database_url, f'SELECT count(DISTINCT source) FROM "{db_schema}".items__rejected')
    assert quarantined == [(2 * FILES // 100,)]
    again = run_pipeline(config)
    assert (again.inserted, len(again.files), again.unchanged_files) == (0, 0, FILES)
    record("many files", f"{FILES:,} files in merge mode, 2% broken, run twice", "loaded once, broken rows quarantined")
