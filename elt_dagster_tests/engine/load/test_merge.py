"""Merge mode against a real PostgreSQL: upserts on the key, the newest row winning, identical rows left alone.

Most tests run both ways a merge finds the rows identical to a stored one (`merge_path`): in the producer, from the
table's hashes fetched first (with `MERGE ... RETURNING`), and in the database, by an anti-join (with an `UPDATE`
and an `INSERT`, as before PostgreSQL 17).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load import merge, merge_sql, planner, session
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.files import delimited
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.load.test_load import ORDERS, sample_rows, write_orders


@pytest.fixture(params=["producer", "database"])
def merge_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which way identical rows are found; fails the test if a merge into an existing table took the other."""
    if request.param == "producer":
        monkeypatch.setattr(planner, "BULK_SHARE", 0.0)  # fetch the hashes whatever the sizes
    else:
        monkeypatch.setattr(planner, "FETCH_HASHES_MAX_ROWS", -1)
        monkeypatch.setattr(merge_sql, "merge_returns_actions", lambda conn: False)
    opened: list[str] = []
    original = planner.open_strategy

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        strategy = original(*args, **kwargs)
        opened.append(strategy.name)
        return strategy

    monkeypatch.setattr(planner, "open_strategy", recorded)
    monkeypatch.setattr(session, "open_strategy", recorded)
    yield request.param
    other = {"producer": "merge-in-database", "database": "merge-in-producer"}[request.param]
    assert other not in opened, (request.param, opened)


MERGE_STATUS = """
sources:
  - path: ../data
target:
  table: t
  db_schema: {schema}
  mode: merge
  primary_key: [id]
schema:
  columns:
    id: integer
    status: string
"""


MERGE_BY_ID = ORDERS.replace("db_schema: {schema}", "db_schema: {schema}\n      mode: merge\n      primary_key: [id]")


def test_merge_upserts_on_primary_key_newest_wins(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(
        tmp_path / "data" / "a.csv",
        [(1, "A", "1", "2024-01-01", "yes"), (2, "B", "2", "2024-01-01", "no"), (1, "A2", "1", "2024-01-01", "yes")],
    )
    config = make_pipeline(MERGE_BY_ID)
    first = run_pipeline(config)
    assert (first.inserted, first.updated) == (2, 0)
    assert fetch(database_url, f'SELECT id, customer FROM "{db_schema}".orders ORDER BY id') == [(1, "A2"), (2, "B")]
    write_orders(
        tmp_path / "data" / "b.csv", [(2, "B-new", "2", "2024-01-01", "no"), (3, "C", "3", "2024-01-01", "yes")]
    )
    second = run_pipeline(config)
    assert (second.inserted, second.updated) == (1, 1)
    assert fetch(database_url, f'SELECT id, customer FROM "{db_schema}".orders ORDER BY id') == [
        (1, "A2"),
        (2, "B-new"),
        (3, "C"),
    ]
    third = run_pipeline(config)
    assert (third.inserted, third.updated) == (0, 0)


def unique_indexes(database_url: str, table: str) -> list[str]:
    """The definitions of `table`'s unique indexes."""
    query = "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass AND indisunique ORDER BY 1"
    return [definition for (definition,) in fetch(database_url, query, table)]


def test_a_merge_table_is_indexed_on_its_key_only_until_it_switches_to_append(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """A merge table keeps one row per key with its key's unique index; an index on the row hash would only cost
    every update one more entry. Switched to append mode, the table gets its hash index and dedups by it."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(5))
    first = run_pipeline(make_pipeline(MERGE_BY_ID))
    assert (first.strategy, first.inserted) == ("merge-new-table", 5)
    table = f'"{db_schema}".orders'
    indexes = unique_indexes(database_url, table)
    assert len(indexes) == 1 and indexes[0].endswith("USING btree (id)"), indexes
    write_orders(tmp_path / "data" / "b.csv", sample_rows(2, start=5))  # 5 is stored, 6 is new
    second = run_pipeline(make_pipeline(MERGE_BY_ID))
    assert (second.inserted, second.updated) == (1, 0)  # row 5 is identical: left alone
    appended = run_pipeline(make_pipeline(ORDERS), full_refresh=True)  # every file again, now deduped by hash
    assert (appended.inserted, appended.duplicates) == (0, 7)
    assert [d.endswith("USING btree (_elt_row_hash)") for d in unique_indexes(database_url, table)] == [False, True]
    assert fetch(database_url, f"SELECT count(*), count(DISTINCT _elt_row_hash) FROM {table}") == [(6, 6)]


def test_merge_the_newest_file_wins_whatever_its_name(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    old = write(tmp_path / "data" / "z_old.csv", "id,status\n1,old\n")
    new = write(tmp_path / "data" / "a_new.csv", "id,status\n1,new\n")
    os.utime(old, ns=(1_700_000_000_000_000_000,) * 2)
    os.utime(new, ns=(1_700_000_100_000_000_000,) * 2)
    run_pipeline(make_pipeline(MERGE_STATUS))
    assert fetch(database_url, f'SELECT id, status FROM "{db_schema}".t') == [(1, "new")]


MERGE_BY_UPDATED_AT = MERGE_STATUS.replace("primary_key: [id]\n", "primary_key: [id]\n  order_by: Updated_At\n") + (
    "    updated_at: timestamp\n"
)


def test_merge_order_by_decides_within_a_run_and_against_the_stored_row(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(
        tmp_path / "data" / "a.csv",
        "id,status,updated_at\n1,late,2024-05-02\n1,early,2024-05-01\n2,x,\n2,y,2024-01-01\n",
    )
    config = make_pipeline(MERGE_BY_UPDATED_AT)
    report = run_pipeline(config)
    assert (report.inserted, report.updated) == (2, 0)
    rows = f'SELECT id, status FROM "{db_schema}".t ORDER BY id'
    assert fetch(database_url, rows) == [(1, "late"), (2, "y")]  # the latest updated_at wins; NULL is the oldest
    write(tmp_path / "data" / "b.csv", "id,status,updated_at\n1,stale,2024-04-01\n2,newer,2024-02-01\n")
    report = run_pipeline(config)
    assert (report.inserted, report.updated) == (0, 1)  # a newer file holding an older row does not win
    assert fetch(database_url, rows) == [(1, "late"), (2, "newer")]


def test_order_by_must_name_a_column_and_only_applies_to_merge(tmp_path: Path, make_pipeline) -> None:
    write(tmp_path / "data" / "a.csv", "id,status,updated_at\n1,a,2024-01-01\n")
    with pytest.raises(PipelineError, match=r"target\.order_by names a column the data does not have: 'changed'"):
        run_pipeline(make_pipeline(MERGE_BY_UPDATED_AT.replace("Updated_At", "changed")))
    with pytest.raises(PipelineError, match="order_by decides which row of a key wins in mode 'merge'"):
        make_pipeline(MERGE_BY_UPDATED_AT.replace("mode: merge", "mode: append"))


def test_merge_a_later_row_identical_to_the_stored_one_beats_a_changed_one(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Rows identical to the stored row are not staged with the others, but still count as the last one read."""
    write(tmp_path / "data" / "a.csv", "id,status\n1,A\n2,B\n3,C\n")
    config = make_pipeline(MERGE_STATUS)
    run_pipeline(config)
    # 1 changed then back as stored: stays. 2 as stored then changed: changes. 3 changed twice: the last wins.
    write(tmp_path / "data" / "b.csv", "id,status\n1,A2\n2,B\n3,C2\n1,A\n2,B2\n3,C3\n4,D\n")
    report = run_pipeline(config)
    assert (report.inserted, report.updated) == (1, 2)
    rows = fetch(database_url, f'SELECT id, status FROM "{db_schema}".t ORDER BY id')
    assert rows == [(1, "A"), (2, "B2"), (3, "C3"), (4, "D")]


def test_merge_order_by_weighs_rows_identical_to_the_stored_one(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """With `order_by`, a row identical to the stored one wins when its value is later, or equal and read later;
    NULL is the oldest."""
    stored = "1,x,2024-05-01\n2,a,2024-01-01\n3,f,2024-01-01\n5,p,2024-01-01\n6,r,\n7,u,\n"
    write(tmp_path / "data" / "a.csv", "id,status,updated_at\n" + stored)
    config = make_pipeline(MERGE_BY_UPDATED_AT)
    run_pipeline(config)
    incoming = (
        "1,y,2024-05-01\n1,x,2024-05-01\n"  # a tie: the identical row, read later, wins
        "2,a,2024-01-01\n2,b,2024-02-01\n"  # the changed row is later
        "3,f,2024-01-01\n3,g,2024-01-01\n"  # a tie: the changed row, read later, wins
        "4,n,\n4,m,2024-01-01\n"  # new: the dated row beats the NULL one
        "5,p,2024-01-01\n5,q,\n"  # NULL is the oldest: the identical row wins
        "6,s,\n6,r,\n"  # both NULL: the identical row, read later, wins
        "7,u,\n7,v,\n"  # both NULL: the changed row, read later, wins
    )
    write(tmp_path / "data" / "b.csv", "id,status,updated_at\n" + incoming)
    report = run_pipeline(config)
    assert (report.inserted, report.updated) == (1, 3)
    rows = fetch(database_url, f'SELECT id, status FROM "{db_schema}".t ORDER BY id')
    assert rows == [(1, "x"), (2, "b"), (3, "g"), (4, "m"), (5, "p"), (6, "r"), (7, "v")]


def test_a_merge_table_leaves_room_in_its_pages_for_updates(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Merge tables keep 15% of each page free, so an updated row's new version fits on the old one's page (a HOT
    update: no new index entry, no other page written); append tables fill their pages."""
    write_orders(tmp_path / "data" / "a.csv", sample_rows(500))
    run_pipeline(make_pipeline(MERGE_BY_ID))
    run_pipeline(make_pipeline(ORDERS.replace("table: orders", "table: appended")))
    options = f"SELECT relname, reloptions FROM pg_class WHERE relnamespace = '{db_schema}'::regnamespace"
    by_table = dict(fetch(database_url, options + " AND relname IN ('orders', 'appended')"))
    assert by_table == {"orders": ["fillfactor=85"], "appended": None}
    spread = range(1, 500, 50)  # a row or two per page
    pages = f'SELECT id, (ctid::text::point)[0] FROM "{db_schema}".orders WHERE id % 50 = 1 ORDER BY id'
    before = fetch(database_url, pages)
    changed = [(i, "changed", "1.5", "2024-01-01 10:00:00", "yes") for i in spread]
    write_orders(tmp_path / "data" / "b.csv", changed)
    assert run_pipeline(make_pipeline(MERGE_BY_ID)).updated == 10
    assert fetch(database_url, pages) == before


def test_merge_on_a_composite_key(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Rows match on every key column: the same id in another region is another row."""
    body = MERGE_STATUS.replace("primary_key: [id]", "primary_key: [region, id]").replace(
        "    id: integer", "    region: string\n    id: integer"
    )
    write(tmp_path / "data" / "a.csv", "region,id,status\neu,1,a\nus,1,b\neu,2,c\n")
    config = make_pipeline(body)
    assert run_pipeline(config).inserted == 3
    write(tmp_path / "data" / "b.csv", "region,id,status\neu,1,a2\nus,1,b\neu,1,a\neu,2,c2\nus,2,new\n")
    report = run_pipeline(config)
    assert (report.inserted, report.updated) == (1, 1)
    rows = fetch(database_url, f'SELECT region, id, status FROM "{db_schema}".t ORDER BY region, id')
    assert rows == [("eu", 1, "a"), ("eu", 2, "c2"), ("us", 1, "b"), ("us", 2, "new")]


@pytest.fixture
def picks_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a merge picked its winners with `DISTINCT ON` (one item per pick)."""
    picks: list[int] = []
    original = merge.MergeStrategy.winners_query

    def counted(self, left_out):  # type: ignore[no-untyped-def]
        picks.append(1)
        return original(self, left_out)

    monkeypatch.setattr(merge.MergeStrategy, "winners_query", counted)
    return picks


def test_merge_with_no_key_read_twice_writes_the_staged_rows_as_they_are(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, picks_counted: list[int], monkeypatch
) -> None:
    """One integer key, none repeated: every staged row is its key's winner, so none are picked (a sort and an
    anti-join saved); a key read twice, even in different batches, or too many keys to keep, and they are."""
    monkeypatch.setattr(planner, "BULK_SHARE", 0.0)  # the hashes fetched: identical rows told apart in the producer
    monkeypatch.setattr(delimited, "BATCH_ROWS", 2)
    write(tmp_path / "data" / "a.csv", "id,status\n1,a\n2,b\n3,c\n")
    config = make_pipeline(MERGE_STATUS)
    assert run_pipeline(config).inserted == 3
    write(tmp_path / "data" / "b.csv", "id,status\n2,b\n3,c2\n4,d\n")
    assert (run_pipeline(config).inserted, picks_counted) == (1, [])
    write(tmp_path / "data" / "c.csv", "id,status\n1,x\n4,d\n5,e\n1,a\n")  # 1 again, in the second batch: stays a
    report = run_pipeline(config)
    assert (report.inserted, report.updated, picks_counted) == (1, 0, [1])
    monkeypatch.setattr(merge, "MAX_TRACKED_KEYS", 1)
    write(tmp_path / "data" / "d.csv", "id,status\n6,f\n7,g\n8,h\n")
    assert (run_pipeline(config).inserted, picks_counted) == (3, [1, 1])
    rows = fetch(database_url, f'SELECT id, status FROM "{db_schema}".t ORDER BY id')
    assert rows == [(1, "a"), (2, "b"), (3, "c2"), (4, "d"), (5, "e"), (6, "f"), (7, "g"), (8, "h")]


def test_a_merge_key_retyped_to_text_widens_the_key_column_and_merges(
    merge_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """The schema says string where the table keeps an integer key: the column is widened to text (issue 24; was
    PostgreSQL's refusal of `x7`), its key index with it, and the run merges on the text keys, not on integers kept
    on the client."""
    write(tmp_path / "data" / "a.csv", "id,status\n1,a\n2,b\n")
    run_pipeline(make_pipeline(MERGE_STATUS))
    write(tmp_path / "data" / "b.csv", "id,status\nx7,c\n2,b2\n")
    report = run_pipeline(make_pipeline(MERGE_STATUS.replace("id: integer", "id: string")))
    assert (report.inserted, report.updated) == (1, 1)
    rows = fetch(database_url, f'SELECT id, status FROM "{db_schema}".t ORDER BY id')
    assert rows == [("1", "a"), ("2", "b2"), ("x7", "c")]


def test_rows_replaced_by_a_later_row_of_their_key_are_superseded_not_duplicates(
    tmp_path: Path,
    make_pipeline,
    database_url: str,
    db_schema: str,
    merge_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 24: three rows of one key in a run are one written and two superseded, none a duplicate."""
    counts: list[session.LoadCounts] = []
    finish = session.LoadSession.finish

    def kept(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        counts.append(finish(self, *args, **kwargs))
        return counts[-1]

    monkeypatch.setattr(session.LoadSession, "finish", kept)
    write(tmp_path / "data" / "a.csv", "id,status\n1,a\n1,b\n1,c\n9,z\n")
    config = make_pipeline(MERGE_STATUS.format(schema=db_schema))
    run_pipeline(config)  # a new table: merge-new-table
    first = counts[-1]
    assert (first.inserted, first.updated, first.superseded) == (2, 0, 2)
    write(tmp_path / "data" / "b.csv", "id,status\n1,c\n1,d\n1,e\n2,x\n9,z\n")
    run_pipeline(config)
    second = counts[-1]
    assert (second.strategy, second.rows_valid, second.inserted, second.updated, second.superseded) == (
        second.strategy,
        5,
        1,
        1,
        2,
    )
    duplicates = second.rows_valid - second.inserted - second.updated - second.superseded
    assert duplicates == 1  # 9,z: the table's row already
    assert fetch(database_url, f'SELECT id, status FROM "{db_schema}".t ORDER BY id') == [
        (1, "e"),
        (2, "x"),
        (9, "z"),
    ]
