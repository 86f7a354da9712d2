"""Incremental extraction: only new or changed files are read, and a crash never loses or duplicates rows."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine import run as pipeline_module
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

CONFIG = """
    sources:
      - type: local
        path: ../data
    target:
      table: events
      db_schema: {schema}
    schema:
      columns:
        id: integer
        name: string
"""


def write_events(path: Path, ids: range) -> Path:
    return write(path, "id,name\n" + "".join(f"{i},event {i}\n" for i in ids))


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_events(tmp_path / "data" / "a.csv", range(0, 100)), write_events(
        tmp_path / "data" / "b.csv", range(100, 150)
    )


def test_second_run_reads_nothing_and_inserts_nothing(
    two_files, make_pipeline, database_url: str, db_schema: str
) -> None:
    config = make_pipeline(CONFIG)
    first = run_pipeline(config)
    assert (len(first.files), first.inserted) == (2, 150)
    second = run_pipeline(config)
    assert (len(second.files), second.unchanged_files, second.inserted, second.rows_extracted) == (0, 2, 0, 0)
    assert second.row_count == 150 and second.staging_path is None


def test_touching_one_file_rereads_only_that_file(two_files, make_pipeline, database_url: str, db_schema: str) -> None:
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    a, _ = two_files
    later = a.stat().st_mtime_ns + 5_000_000_000
    os.utime(a, ns=(later, later))
    again = run_pipeline(config)
    assert [Path(f.path).name for f in again.files] == ["a.csv"]
    assert (again.inserted, again.duplicates) == (0, 100)


def test_changed_file_is_reread_whole_and_only_new_rows_land(
    two_files, make_pipeline, database_url: str, db_schema: str
) -> None:
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    _, b = two_files
    write_events(b, range(100, 160))  # ten rows appended
    again = run_pipeline(config)
    assert (again.inserted, again.duplicates) == (10, 50)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".events') == [(160,)]


def test_same_size_and_mtime_but_new_content_is_caught_by_the_content_hash(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    path = write(tmp_path / "data" / "a.csv", "id,name\n1,aaa\n")
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    stat = path.stat()
    path.write_text("id,name\n2,bbb\n")  # same size; then the same mtime, within one tick of the load
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = run_pipeline(config)
    assert again.inserted == 1
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".events ORDER BY id') == [(1,), (2,)]


def test_crash_between_load_and_fingerprint_loses_and_duplicates_nothing(
    two_files, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_pipeline(CONFIG)
    calls = []

    def crash(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise RuntimeError("simulated crash after the rows were copied")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError, match="simulated crash"):
        patched.setattr(pipeline_module, "record_files", crash)
        run_pipeline(config)
    assert calls, "the crash must happen after a file's rows were copied"
    # the whole run was one transaction: not even the table it created is left
    assert fetch(database_url, "SELECT to_regclass(%s)", f'"{db_schema}".events') == [(None,)]
    recovered = run_pipeline(config)
    assert (len(recovered.files), recovered.inserted) == (2, 150)
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT id) FROM "{db_schema}".events') == [(150, 150)]


def test_lost_fingerprints_reread_files_without_duplicates(
    two_files, make_pipeline, database_url: str, db_schema: str
) -> None:
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = %s", (config.name,))
    again = run_pipeline(config)
    assert (len(again.files), again.inserted, again.duplicates) == (2, 0, 150)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".events') == [(150,)]


def test_full_refresh_reads_everything_again(two_files, make_pipeline, database_url: str, db_schema: str) -> None:
    config = make_pipeline(CONFIG)
    run_pipeline(config)
    again = run_pipeline(config, full_refresh=True)
    assert (len(again.files), again.inserted, again.duplicates) == (2, 0, 150)


def test_fingerprints_are_per_pipeline(two_files, make_pipeline, database_url: str, db_schema: str) -> None:
    run_pipeline(make_pipeline(CONFIG, name="first"))
    other = run_pipeline(make_pipeline(CONFIG.replace("table: events", "table: events_copy"), name="second"))
    assert (len(other.files), other.inserted) == (2, 150)
