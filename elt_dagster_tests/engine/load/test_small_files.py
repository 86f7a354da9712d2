"""Many small files in one run (`engine/small_files.py`): grouped loads, each row's own `_elt_source`, no per-file
DDL or lock, every loader."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine import small_files
from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.load import planner
from elt_dagster.engine.load import session as session_module
from elt_dagster.engine.run import RunReport, run_pipeline
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.pipelines import items_yaml


def write_files(folder: Path, count: int, start: int = 0, rows: int = 3) -> None:
    """`count` files `f<n>.csv` of `rows` rows each, ids `rows*n ...`, written oldest first (their read order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(start, start + count):
        ids = range(rows * n, rows * n + rows)
        path = folder / f"f{n:05d}.csv"
        path.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in ids))
        os.utime(path, ns=(n * 1_000_000_000, n * 1_000_000_000))


def mislabelled(database_url: str, table: str, folder: Path, where: str = "true") -> int:
    """Rows (of those `where` holds) whose `_elt_source` is not the file their id was written in by `write_files`."""
    own = f"'{folder}/f' || lpad((id / 3)::text, 5, '0') || '.csv'"
    query = f"SELECT count(*) FROM {table} WHERE {where} AND _elt_source IS DISTINCT FROM {own}"
    return fetch(database_url, query)[0][0]


def run_counting_locks(config: LoadedConfig, monkeypatch: pytest.MonkeyPatch) -> tuple[RunReport, int]:
    """Run the pipeline; also the locks its connection holds once every file is loaded (they last to the commit)."""
    held: list[int] = []
    original = session_module.quarantine

    def counted(conn: psycopg.Connection, *args: object) -> None:
        held.append(conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()").fetchone()[0])
        original(conn, *args)

    monkeypatch.setattr(session_module, "quarantine", counted)
    report = run_pipeline(config)
    return report, held[0]


@pytest.mark.slow  # subprocesses or 10,000 files: in the full suite, not the quick tier
def test_ten_thousand_three_row_files_load_in_one_run(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_files(tmp_path / "data", 10_000)
    config = make_pipeline(items_yaml())
    report = run_pipeline(config)
    assert (report.strategy, report.inserted, len(report.files)) == ("bulk", 30_000, 10_000)
    table = f'"{db_schema}".items'
    assert fetch(database_url, f"SELECT count(*), count(DISTINCT id) FROM {table}") == [(30_000, 30_000)]
    assert mislabelled(database_url, table, tmp_path / "data") == 0
    again = run_pipeline(config)  # every file's fingerprint was recorded with its rows
    assert (again.inserted, len(again.files), again.unchanged_files) == (0, 0, 10_000)


@pytest.mark.parametrize(
    ("mode", "existing", "strategy"),
    [("append", 0, "bulk"), ("merge", 0, "merge-new-table"), ("append", 30, "hashset"), ("append", 3000, "probe")],
)
def test_the_locks_a_run_holds_do_not_grow_with_its_files(
    tmp_path: Path,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    existing: int,
    strategy: str,
) -> None:
    """A DDL per file held a lock per file until the commit (~7,900 exhausted PostgreSQL's lock table)."""
    (tmp_path / "data").mkdir()
    config = make_pipeline(items_yaml("mode: merge\nprimary_key: [id]" if mode == "merge" else ""))
    if existing:
        write_files(tmp_path / "data", 1, rows=existing)  # ids below 6000
        run_pipeline(config)
    monkeypatch.setattr(small_files, "GROUP_FILES", 25)  # many groups, each a savepoint and a COPY
    write_files(tmp_path / "data", 400, start=2000)
    report, locks = run_counting_locks(config, monkeypatch)
    assert (report.strategy, report.inserted) == (strategy, 1200)
    assert locks < 100, f"{locks} locks held until the commit after loading 400 files"
    assert mislabelled(database_url, f'"{db_schema}".items', tmp_path / "data", "id >= 6000") == 0


@pytest.mark.parametrize("small_bytes", [0, 60, small_files.SMALL_FILE_BYTES], ids=["streamed", "mixed", "grouped"])
@pytest.mark.parametrize("mode", ["append", "merge"])
def test_each_row_names_its_own_file_however_the_files_are_loaded(
    tmp_path: Path,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    small_bytes: int,
    mode: str,
) -> None:
    """Streamed files (one, the largest, holds the table's default), grouped ones, or both in turn."""
    monkeypatch.setattr(small_files, "SMALL_FILE_BYTES", small_bytes)
    monkeypatch.setattr(small_files, "BATCH_ROWS", 7)  # groups of two files
    folder = tmp_path / "data"
    for n in range(12):
        write_files(folder, 1, start=n, rows=3 + (n % 3) * 2)  # 3, 5 or 7 rows: some files repeat others' rows
    config = make_pipeline(items_yaml("mode: merge\nprimary_key: [id]" if mode == "merge" else ""))
    report, locks = run_counting_locks(config, monkeypatch)
    table = f'"{db_schema}".items'
    by_id: dict[int, str] = {}
    for n in range(12):  # the later file wins a key in merge mode; the first one read keeps a row in append mode
        for i in range((3 + (n % 3) * 2) * n, (3 + (n % 3) * 2) * (n + 1)):
            if mode == "merge" or i not in by_id:
                by_id[i] = str(folder / f"f{n:05d}.csv")
    stored = dict(fetch(database_url, f"SELECT id, _elt_source FROM {table}"))
    assert stored == by_id and locks < 100
    assert report.inserted == len(by_id)
    default = f"SELECT column_default FROM information_schema.columns WHERE table_schema = '{db_schema}' AND "
    assert fetch(database_url, default + "table_name = 'items' AND column_name = '_elt_source'") == [(None,)]


def test_rejects_and_malformed_rows_in_a_group_keep_every_row_with_its_file(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(small_files, "BATCH_ROWS", 20)
    folder = tmp_path / "data"
    write_files(folder, 30)
    (folder / "f00004.csv").write_text("id,name\nnot a number,x\n13,name 13\n14,name 14\n")  # a value rejected
    (folder / "f00007.csv").write_text("id,name\n21,name 21,extra\n22,name 22\n23\n")  # wrong field counts
    (folder / "f00011.csv").write_text("id,name\nx,a\ny,b\nz,c\n")  # every row rejected
    (folder / "f00012.csv").write_text("id,name\n")  # no rows
    report = run_pipeline(make_pipeline(items_yaml()))
    assert (report.inserted, report.rejected, len(report.files)) == (90 - 1 - 2 - 3 - 3, 6, 30)
    table = f'"{db_schema}".items'
    assert mislabelled(database_url, table, folder) == 0
    assert fetch(database_url, f"SELECT count(*) FROM {table} WHERE id IN (13, 14, 22)") == [(3,)]
    rejected = fetch(database_url, f'SELECT source, source_row FROM "{db_schema}".items__rejected ORDER BY 1, 2')
    names = [(Path(source).name, row) for source, row in rejected]
    assert names == [("f00004.csv", 1), ("f00007.csv", 1), ("f00007.csv", 3)] + [("f00011.csv", r) for r in (1, 2, 3)]


@pytest.mark.parametrize("strategy", ["hashset", "probe"])
def test_rows_repeated_across_small_files_into_an_existing_table_load_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    monkeypatch.setattr(small_files, "BATCH_ROWS", 10)
    monkeypatch.setattr(planner, "BULK_SHARE", 0.0 if strategy == "hashset" else 1e9)
    folder = tmp_path / "data"
    write_files(folder, 5)
    config = make_pipeline(items_yaml())
    run_pipeline(config)
    write_files(folder, 20, start=5)
    for n in (7, 17):  # a file repeating another's rows, in the same group and in a later one
        path = folder / f"f{n:05d}.csv"
        path.write_text((folder / "f00006.csv").read_text())
        os.utime(path, ns=(n * 1_000_000_000, n * 1_000_000_000))
    report = run_pipeline(config)
    assert (report.strategy, report.inserted, report.duplicates) == (strategy, 60 - 6, 6)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items WHERE id BETWEEN 18 AND 20') == [(3,)]
    assert mislabelled(database_url, f'"{db_schema}".items', folder) == 0


def test_files_whose_masked_labels_are_the_same_keep_their_rows_rejects_and_fingerprints_apart(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_FIRST", "first-5b8e1d")
    monkeypatch.setenv("ELT_T_SECOND", "second-0c4a7f")
    for offset, secret in ((0, "first-5b8e1d"), (100, "second-0c4a7f")):  # same file names in both folders
        for n in range(4):
            path = tmp_path / "data" / secret / f"f{n}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            bad = f"oops{offset},bad\n" if n == 2 else ""
            path.write_text(f"id,name\n{offset + 2 * n},a\n{bad}{offset + 2 * n + 1},b\n")
            os.utime(path, ns=(2 * n + offset // 100,) * 2)  # interleaved: first/f0, second/f0, first/f1 ...
    body = items_yaml().replace(
        "  - path: ../data\n", "  - path: ../data/${ELT_T_FIRST}\n  - path: ../data/${ELT_T_SECOND}\n"
    )
    config = make_pipeline(body)
    report = run_pipeline(config)
    assert (report.inserted, report.rejected, len(report.files)) == (16, 2, 8)
    assert sorted(f.path for f in report.files) == sorted(
        f"{tmp_path}/data/***/f{n}.csv" for n in range(4) for _ in "ab"
    )
    table = f'"{db_schema}".items'
    rows = fetch(database_url, f"SELECT id, _elt_source FROM {table} ORDER BY id")
    assert rows == [(i, f"{tmp_path}/data/***/f{i % 100 // 2}.csv") for i in [*range(8), *range(100, 108)]]
    rejected = fetch(database_url, f"SELECT source, raw_record->>'id' FROM {table}__rejected ORDER BY 2")
    assert rejected == [(f"{tmp_path}/data/***/f2.csv", "oops0"), (f"{tmp_path}/data/***/f2.csv", "oops100")]
    # the bookkeeping keeps each file's own path: a change to one of two same-named files reads that one again
    paths = fetch(
        database_url, "SELECT path FROM elt.file_fingerprints WHERE path LIKE %s ORDER BY path", f"{tmp_path}/%"
    )
    assert len({path for (path,) in paths}) == 8 and "second-0c4a7f" in paths[-1][0]
    assert run_pipeline(config).unchanged_files == 8
    (tmp_path / "data" / "second-0c4a7f" / "f3.csv").write_text("id,name\n200,c\n")
    again = run_pipeline(config)
    assert (again.inserted, again.unchanged_files) == (1, 7)
