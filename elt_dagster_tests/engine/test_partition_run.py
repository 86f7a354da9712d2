"""Partitioned pipelines in the engine, against a real PostgreSQL: a day loaded alone holds exactly its files' rows;
two days loaded at once both land, each row once, neither waiting for the other; an edited day replaced exactly,
the others untouched; files of no partition reported; a day without files emptied; quarantine per partition;
partitions by batches of files."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.config.partitions import FileBatch, PartitionWindow
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load import partition as partition_module
from elt_dagster.engine.partition_run import place_files, run_partition, run_partitions
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.state.partition_files import assign_new_files
from elt_dagster.engine.state.schema import ensure_state_tables
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.pipelines import DAILY_YAML as DAILY


def day(key: str) -> PartitionWindow:
    start = datetime.fromisoformat(key).replace(tzinfo=UTC)
    return PartitionWindow(key, start, start + timedelta(days=1))


def write_day(tmp_path: Path, key: str, rows: list[tuple[int, str]], name: str = "events.csv") -> Path:
    body = "id,name\n" + "".join(f"{i},{n}\n" for i, n in rows)
    return write(tmp_path / "data" / key / name, body)


def rows_of(database_url: str, db_schema: str, where: str = "true") -> list[tuple]:
    return fetch(database_url, f'SELECT _elt_partition, id, name FROM "{db_schema}".events WHERE {where} ORDER BY 1, 2')


@pytest.fixture
def three_days(tmp_path: Path, make_pipeline) -> LoadedConfig:
    write_day(tmp_path, "2024-01-01", [(1, "a"), (2, "b")])
    write_day(tmp_path, "2024-01-02", [(3, "c"), (4, "d"), (5, "e")])
    write_day(tmp_path, "2024-01-03", [(6, "f")])
    return make_pipeline(DAILY)


def test_a_day_loaded_alone_holds_exactly_its_files_rows(
    three_days: LoadedConfig, database_url: str, db_schema: str
) -> None:
    report = run_partition(three_days, day("2024-01-02"))
    assert (report.partition, report.inserted, report.strategy, report.partition_rows) == (
        "2024-01-02",
        3,
        "partition-append",
        3,
    )
    assert rows_of(database_url, db_schema) == [("2024-01-02", 3, "c"), ("2024-01-02", 4, "d"), ("2024-01-02", 5, "e")]
    again = run_partition(three_days, day("2024-01-02"))  # nothing changed: the same rows, none written
    assert (again.strategy, again.inserted, again.deleted, again.duplicates, again.row_count) == (
        "partition-replace",
        0,
        0,
        3,
        3,
    )


def test_two_days_load_at_once_neither_waiting_for_the_other(
    three_days: LoadedConfig, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Day 1's load pauses mid-copy, its transaction open, until day 3's load has committed: if day 3 waited on
    any lock of day 1's, day 1 would time out waiting and the test fail."""
    run_partition(three_days, day("2024-01-02"))  # the table exists: both loads below are of an existing table
    day1_paused, day3_done = threading.Event(), threading.Event()
    original = partition_module.PartitionAppend.copy_batch

    def paused(self, prepared):  # type: ignore[no-untyped-def]
        inserted = original(self, prepared)
        if self.partition == "2024-01-01":
            day1_paused.set()
            assert day3_done.wait(30), "day 3 waited for day 1"
        return inserted

    monkeypatch.setattr(partition_module.PartitionAppend, "copy_batch", paused)
    results: dict[str, object] = {}

    def load(key: str) -> None:
        try:
            results[key] = run_partition(three_days, day(key))
        except BaseException as exc:
            results[key] = exc
        if key == "2024-01-03":
            day3_done.set()

    first = threading.Thread(target=load, args=("2024-01-01",))
    first.start()
    assert day1_paused.wait(60), results  # day 1 holds whatever it locks, mid-copy
    load("2024-01-03")
    first.join(120)
    assert not isinstance(results["2024-01-03"], BaseException), results["2024-01-03"]
    assert not isinstance(results["2024-01-01"], BaseException), results["2024-01-01"]
    assert fetch(database_url, f'SELECT count(*), count(DISTINCT id) FROM "{db_schema}".events') == [(6, 6)]


def test_an_edited_day_is_replaced_exactly_and_the_other_days_stay_untouched(
    tmp_path: Path, three_days: LoadedConfig, database_url: str, db_schema: str
) -> None:
    for key in ("2024-01-01", "2024-01-02", "2024-01-03"):
        run_partition(three_days, day(key))
    before = fetch(database_url, f'SELECT id, _elt_loaded_at, ctid::text FROM "{db_schema}".events ORDER BY id')
    write_day(tmp_path, "2024-01-02", [(3, "c"), (4, "d2"), (7, "g")])  # 4 changed, 5 removed, 7 added
    report = run_partition(three_days, day("2024-01-02"))
    assert (report.strategy, report.inserted, report.deleted, report.duplicates, report.row_count) == (
        "partition-replace",
        2,
        2,
        1,
        6,
    )
    assert rows_of(database_url, db_schema, "_elt_partition = '2024-01-02'") == [
        ("2024-01-02", 3, "c"),
        ("2024-01-02", 4, "d2"),
        ("2024-01-02", 7, "g"),
    ]
    after = fetch(database_url, f'SELECT id, _elt_loaded_at, ctid::text FROM "{db_schema}".events ORDER BY id')
    untouched = [row for row in before if row[0] in (1, 2, 3, 6)]
    assert [row for row in after if row[0] in (1, 2, 3, 6)] == untouched  # not even rewritten
    assert fetch(
        database_url, "SELECT row_count FROM elt.table_row_counts WHERE table_name = %s", f"{db_schema}.events"
    ) == [(6,)]


def test_files_of_no_partition_are_reported_never_dropped_silently(tmp_path: Path, three_days: LoadedConfig) -> None:
    write(tmp_path / "data" / "misc" / "notes.csv", "id,name\n9,x\n")
    write_day(tmp_path, "2023-12-31", [(10, "y")])
    report = run_partition(three_days, day("2024-01-01"))
    assert report.inserted == 2
    assert any("notes.csv (no %Y-%m-%d date in its path)" in line for line in report.unplaced_files)
    assert any("2023-12-31" in line and "outside partitions.start/end" in line for line in report.unplaced_files)
    assert [f.path.parent.name for f in place_files(three_days).files] == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_a_day_whose_files_are_gone_is_emptied(
    tmp_path: Path, three_days: LoadedConfig, database_url: str, db_schema: str
) -> None:
    run_partition(three_days, day("2024-01-01"))
    run_partition(three_days, day("2024-01-03"))
    (tmp_path / "data" / "2024-01-03" / "events.csv").unlink()
    report = run_partition(three_days, day("2024-01-03"))
    assert (report.deleted, report.row_count) == (1, 2)
    assert rows_of(database_url, db_schema) == [("2024-01-01", 1, "a"), ("2024-01-01", 2, "b")]


def test_quarantine_is_kept_per_partition_and_replaced_with_it(
    tmp_path: Path, three_days: LoadedConfig, database_url: str, db_schema: str
) -> None:
    write_day(tmp_path, "2024-01-02", [(3, "c"), ("x4", "bad")])  # type: ignore[list-item]
    write_day(tmp_path, "2024-01-03", [("x6", "bad")])  # type: ignore[list-item]
    run_partition(three_days, day("2024-01-02"))
    run_partition(three_days, day("2024-01-03"))
    quarantined = f"SELECT partition_key, raw_record->>'id' FROM \"{db_schema}\".events__rejected ORDER BY 1"
    assert fetch(database_url, quarantined) == [("2024-01-02", "x4"), ("2024-01-03", "x6")]
    write_day(tmp_path, "2024-01-02", [(3, "c"), (4, "fixed")])
    run_partition(three_days, day("2024-01-02"))  # the day's record replaced with the day: gone, day 3's stays
    assert fetch(database_url, quarantined) == [("2024-01-03", "x6")]


def test_a_replay_puts_recovered_rows_back_in_their_partition(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_day(tmp_path, "2024-01-02", [(3, "c"), (4, "d")])
    write_day(tmp_path, "2024-01-03", [(6, "f")])
    strict = DAILY.replace("    name: string", "    name: {type: string, allowed: [c, f]}")
    run_partition(make_pipeline(strict), day("2024-01-02"))
    run_partition(make_pipeline(strict), day("2024-01-03"))
    report = replay_rejects(make_pipeline(DAILY))
    assert (report.recovered, report.inserted, report.remaining) == (1, 1, 0)
    assert rows_of(database_url, db_schema) == [("2024-01-02", 3, "c"), ("2024-01-02", 4, "d"), ("2024-01-03", 6, "f")]


def test_a_partitioned_pipeline_is_not_run_whole_and_a_table_is_not_switched(
    tmp_path: Path, three_days: LoadedConfig, make_pipeline, db_schema: str
) -> None:
    with pytest.raises(PipelineError, match=r"is partitioned \(partitions.by: day\): load one partition at a time"):
        run_pipeline(three_days)
    flat = DAILY.split("partitions:")[0].replace("  - path: ../data", '  - path: ../data\n    pattern: "**/*"')
    assert run_pipeline(make_pipeline(flat, name="flat")).inserted == 6
    with pytest.raises(
        PipelineError, match=r"loaded without partitions and this pipeline loads with them: load into another table"
    ):
        run_partition(three_days, day("2024-01-01"))


def test_a_partition_load_never_blocks_a_reader(
    three_days: LoadedConfig, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-replace, another connection counts the table with a 200 ms lock timeout and sees the old partition."""
    run_partition(three_days, day("2024-01-02"))
    seen: list[int] = []
    original = partition_module.PartitionReplace.finish

    def finish_then_read(self):  # type: ignore[no-untyped-def]
        result = original(self)
        with psycopg.connect(database_url, autocommit=True) as reader:
            reader.execute("SET lock_timeout = '200ms'")
            seen.append(reader.execute(f'SELECT count(*) FROM "{db_schema}".events').fetchone()[0])
        return result

    monkeypatch.setattr(partition_module.PartitionReplace, "finish", finish_then_read)
    write_day(three_days.path.parent.parent, "2024-01-02", [(3, "c")])
    run_partition(three_days, day("2024-01-02"))
    assert seen == [3]  # the reader saw the committed partition, at once
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".events') == [(1,)]


FILES = DAILY.split("partitions:")[0] + "partitions:\n  by: files\n  files_per_partition: 2\n"


def test_batches_of_files_are_partitions_replaced_like_windows(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    for number in range(1, 4):  # three files: a batch of two, then one
        write(tmp_path / "data" / f"f{number}.csv", f"id,name\n{number},n{number}\n{number + 10},m{number}\n")
    loaded = make_pipeline(FILES)
    with psycopg.connect(database_url) as conn:
        ensure_state_tables(conn)
        paths = [str(tmp_path / "data" / f"f{n}.csv") for n in range(1, 4)]
        assert assign_new_files(conn, loaded.name, paths, 2) == ["000001", "000002"]
        assert assign_new_files(conn, loaded.name, paths, 2) == []  # a file keeps its partition
    first = run_partition(loaded, FileBatch("000001"))
    second = run_partition(loaded, FileBatch("000002"))
    assert (first.inserted, first.partition_rows, second.inserted) == (4, 4, 2)
    write(tmp_path / "data" / "f2.csv", "id,name\n2,n2 changed\n")  # one row changed, one gone
    (tmp_path / "data" / "f1.csv").unlink()
    again = run_partition(loaded, FileBatch("000001"))
    assert (again.inserted, again.deleted, again.partition_rows) == (1, 4, 1)
    assert rows_of(database_url, db_schema) == [("000001", 2, "n2 changed"), ("000002", 3, "n3"), ("000002", 13, "m3")]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_of_several_partitions_loads_them_in_worker_processes(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, workers: int
) -> None:
    """`workers: 2`: the days load in processes of their own (1: in turn, here); either way one day's failure (a file
    whose two columns map to one) leaves the others loaded, and is raised once they have ended."""
    write_day(tmp_path, "2024-01-01", [(1, "a"), (2, "b")])
    write_day(tmp_path, "2024-01-02", [(3, "c")])
    write_day(tmp_path, "2024-01-03", [(4, "d"), (5, "e")])
    loaded = make_pipeline(DAILY + f"workers: {workers}\n")
    assert loaded.config.worker_count == workers
    reports = run_partitions(loaded, [day("2024-01-01"), day("2024-01-02"), day("2024-01-03")])
    assert [(r.partition, r.inserted) for r in reports] == [("2024-01-01", 2), ("2024-01-02", 1), ("2024-01-03", 2)]
    assert len({r.run_id for r in reports}) == 1  # one run, its partitions in worker processes
    write_day(tmp_path, "2024-01-02", [(6, "f")], name="more.csv")
    write(tmp_path / "data" / "2024-01-01" / "bad.csv", "id,ID\n7,8\n")
    with pytest.raises(PipelineError, match="both map to 'id'"):
        run_partitions(loaded, [day("2024-01-01"), day("2024-01-02")])
    assert [row[1] for row in rows_of(database_url, db_schema, "_elt_partition = '2024-01-01'")] == [1, 2]
    assert [row[1] for row in rows_of(database_url, db_schema, "_elt_partition = '2024-01-02'")] == [3, 6]
