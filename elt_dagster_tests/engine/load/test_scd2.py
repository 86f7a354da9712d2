"""SCD2 mode against a real PostgreSQL: every version kept, a changed row closing its key's current version and
opening the next, deletes closing a version, the `<table>_current` view, and re-runs adding nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load import planner, session
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

CUSTOMERS = """
sources:
  - path: ../data
target:
  table: customers
  db_schema: {schema}
  mode: scd2
  primary_key: [id]
  delete_column: is_deleted
  delete: DELETE_MODE
schema:
  columns:
    id: integer
    name: string
    city: string
    is_deleted: boolean
"""
FIRST = """
id,name,city,is_deleted
1,Ann,Oslo,false
2,Bob,Rome,false
3,Cid,Lima,false
"""
SECOND = """
id,name,city,is_deleted
1,Ann,Oslo,false
2,Bob,Paris,false
3,Cid,Lima,true
4,Dee,Kyiv,false
"""


@pytest.fixture(params=["producer", "database"])
def scd2_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which way rows identical to a current version are found; fails the test if a load took the other."""
    if request.param == "producer":
        monkeypatch.setattr(planner, "BULK_SHARE", 0.0)
    else:
        monkeypatch.setattr(planner, "FETCH_HASHES_MAX_ROWS", -1)
    opened: list[str] = []
    original = planner.open_strategy

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        strategy = original(*args, **kwargs)
        opened.append(strategy.name)
        return strategy

    monkeypatch.setattr(session, "open_strategy", recorded)
    yield request.param
    other = {"producer": "scd2-in-database", "database": "scd2-in-producer"}[request.param]
    assert other not in opened[1:], (request.param, opened)  # the first load, into a new table, is in the producer


def versions(database_url: str, schema: str) -> list[tuple]:
    """(id, city, current?, deleted?) of every version, by key then start (deleted? false where the table has no
    `_elt_deleted_at`: hard deletes)."""
    return fetch(
        database_url,
        f"SELECT id, city, _elt_valid_to IS NULL, coalesce(to_jsonb(c) ->> '_elt_deleted_at', '') <> '' "
        f'FROM "{schema}".customers AS c ORDER BY id, _elt_valid_from, _elt_valid_to NULLS LAST',
    )


@pytest.mark.parametrize("delete_mode", ["soft", "hard"])
def test_scd2_keeps_versions_and_deletes_close_them(
    scd2_path: str, delete_mode: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", FIRST)
    config = make_pipeline(CUSTOMERS.replace("DELETE_MODE", delete_mode), name="customers")
    first = run_pipeline(config)
    assert (first.inserted, first.updated, first.deleted, first.row_count) == (3, 0, 0, 3)
    write(tmp_path / "data" / "b.csv", SECOND)
    second = run_pipeline(config)
    # read 4 = 1 new key + 1 changed key + 1 deleting its key + 1 unchanged
    assert (second.inserted, second.updated, second.flagged, second.duplicates) == (1, 1, 1, 1), second.strategy
    assert second.deleted == 1
    soft = delete_mode == "soft"
    assert versions(database_url, db_schema) == [
        (1, "Oslo", True, False),
        (2, "Rome", False, False),
        (2, "Paris", True, False),
        (3, "Lima", False, soft),
        (4, "Kyiv", True, False),
    ]
    # the closed version of 2 ends when the new one begins: the load's time, without order_by
    (ended, began), *_ = fetch(
        database_url,
        f'SELECT o._elt_valid_to, n._elt_valid_from FROM "{db_schema}".customers o JOIN "{db_schema}".customers n '
        "ON o.id = n.id AND o._elt_valid_to IS NOT NULL AND n._elt_valid_to IS NULL WHERE o.id = 2",
    )
    assert ended == began
    assert fetch(database_url, f'SELECT id, city FROM "{db_schema}".customers_current ORDER BY id') == [
        (1, "Oslo"),
        (2, "Paris"),
        (4, "Kyiv"),
    ]
    assert second.row_count == 5 == fetch(database_url, f'SELECT count(*) FROM "{db_schema}".customers')[0][0]
    # the same second file again (under another name, so it is read): nothing changes
    write(tmp_path / "data" / "c.csv", SECOND)
    again = run_pipeline(config)
    assert (again.inserted, again.updated, again.deleted, again.row_count) == (0, 0, 0, 5)
    assert len(versions(database_url, db_schema)) == 5


def test_a_deleted_key_read_again_opens_a_new_version(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    write(tmp_path / "data" / "a.csv", FIRST)
    config = make_pipeline(CUSTOMERS.replace("DELETE_MODE", "soft"), name="customers")
    run_pipeline(config)
    write(tmp_path / "data" / "b.csv", "id,name,city,is_deleted\n3,Cid,Lima,yes\n")
    assert run_pipeline(config).deleted == 1
    write(tmp_path / "data" / "c.csv", "id,name,city,is_deleted\n3,Cid,Lima,false\n")
    back = run_pipeline(config)
    assert (back.inserted, back.updated, back.deleted) == (1, 0, 0)
    assert [v for v in versions(database_url, db_schema) if v[0] == 3] == [
        (3, "Lima", False, True),
        (3, "Lima", True, False),
    ]


ORDERED = """
sources:
  - path: ../data
target:
  table: customers
  db_schema: {schema}
  mode: scd2
  primary_key: [id]
  order_by: changed_at
schema:
  columns:
    id: integer
    city: string
    changed_at: ORDER_TYPE
"""


def test_validity_times_come_from_order_by_and_stale_rows_are_left_out(
    scd2_path: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,city,changed_at\n1,Oslo,2024-01-01\n1,Rome,2024-03-01\n2,Lima,2024-02-01\n")
    config = make_pipeline(ORDERED.replace("ORDER_TYPE", "date"), name="customers")
    assert run_pipeline(config).superseded == 1  # within one load, a key's latest row makes its version
    write(tmp_path / "data" / "b.csv", "id,city,changed_at\n1,Paris,2024-05-01\n2,Kyiv,2023-12-01\n")
    second = run_pipeline(config)
    assert (second.inserted, second.updated, second.duplicates) == (0, 1, 1)  # 2's row is older: stale
    rows = fetch(
        database_url,
        f'SELECT id, city, _elt_valid_from::date, _elt_valid_to::date FROM "{db_schema}".customers ORDER BY 1, 3',
    )
    day = datetime.fromisoformat
    assert rows == [
        (1, "Rome", day("2024-03-01").date(), day("2024-05-01").date()),
        (1, "Paris", day("2024-05-01").date(), None),
        (2, "Lima", day("2024-02-01").date(), None),
    ]


def test_an_order_by_that_is_no_time_is_one_line(tmp_path: Path, make_pipeline) -> None:
    write(tmp_path / "data" / "a.csv", "id,city,changed_at\n1,Oslo,7\n")
    config = make_pipeline(ORDERED.replace("ORDER_TYPE", "integer"), name="customers")
    with pytest.raises(PipelineError, match=r"order_by 'changed_at' is integer: in mode scd2 .* date or timestamp"):
        run_pipeline(config)


def test_a_type_change_keeps_the_current_view(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    write(tmp_path / "data" / "a.csv", "id,city,changed_at\n1,Oslo,2024-01-01\n")
    run_pipeline(make_pipeline(ORDERED.replace("ORDER_TYPE", "date"), name="customers"))
    widened = ORDERED.replace("ORDER_TYPE", "date").replace("id: integer", "id: bigint")
    write(tmp_path / "data" / "b.csv", "id,city,changed_at\n1,Rome,2024-02-01\n5000000000,Lima,2024-02-01\n")
    report = run_pipeline(make_pipeline(widened, name="customers"))
    assert (report.inserted, report.updated) == (1, 1)
    assert fetch(database_url, f'SELECT id, city FROM "{db_schema}".customers_current ORDER BY id') == [
        (1, "Rome"),
        (5000000000, "Lima"),
    ]


def test_a_table_loaded_in_merge_mode_is_not_switched_to_scd2(tmp_path: Path, make_pipeline) -> None:
    write(tmp_path / "data" / "a.csv", "id,city,changed_at\n1,Oslo,2024-01-01\n")
    merged = ORDERED.replace("ORDER_TYPE", "date").replace("mode: scd2", "mode: merge")
    run_pipeline(make_pipeline(merged, name="customers"))
    with pytest.raises(PipelineError, match=r"keeps one row per key or appends and this pipeline's mode is scd2"):
        run_pipeline(make_pipeline(ORDERED.replace("ORDER_TYPE", "date"), name="customers"), full_refresh=True)
