"""Column mapping tried as a new user would (issue 24, item 4): an export's `Order ID` header loads into `order_id`
in merge mode by `from:` or by `normalize_names`, a key named otherwise is one line, and replay maps names the same."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.run_report import RunReport
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import fetch, write

FIRST = "Order ID,Customer Name,Amount\n1,Ann,10.50\n2,Bob,20.00\n3,Cy,30.25\n"
SECOND = "Order ID,Customer Name,Amount\n2,Bob,22.00\n"

MERGE = """
sources:
  - path: ../data
target:
  db_schema: {schema}
  table: orders
  mode: merge
  primary_key: [order_id]
schema:
"""
BY_FROM = """
  columns:
    order_id: {type: integer, from: "Order ID"}
    customer: {type: string, from: Customer Name}
    amount: decimal
"""
BY_NORMALIZING = """
  normalize_names: snake_case
  columns:
    order_id: integer
    amount: decimal
"""


def _load_both(tmp_path: Path, make_pipeline, body: str) -> tuple[RunReport, RunReport]:
    """Run on the first file, then again with a newer second file updating order 2."""
    write(tmp_path / "data" / "a.csv", FIRST)
    loaded = make_pipeline(body)
    first = run_pipeline(loaded)
    second_file = write(tmp_path / "data" / "b.csv", SECOND)
    later = (tmp_path / "data" / "a.csv").stat().st_mtime + 10
    os.utime(second_file, (later, later))
    return first, run_pipeline(loaded)


def test_order_id_mapped_with_from_loads_in_merge_mode(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    first, second = _load_both(tmp_path, make_pipeline, MERGE + BY_FROM)
    assert (first.inserted, first.invalid, second.inserted, second.updated) == (3, 0, 0, 1)
    rows = fetch(database_url, f'SELECT order_id, customer, amount::float8 FROM "{db_schema}".orders ORDER BY 1')
    assert rows == [(1, "Ann", 10.5), (2, "Bob", 22.0), (3, "Cy", 30.25)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders__rejected') == [(0,)]


def test_normalize_names_loads_the_same_file_in_merge_mode(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    first, second = _load_both(tmp_path, make_pipeline, MERGE + BY_NORMALIZING)
    assert (first.inserted, second.updated) == (3, 1)
    rows = fetch(database_url, f'SELECT order_id, customer_name, amount::float8 FROM "{db_schema}".orders ORDER BY 1')
    assert rows == [(1, "Ann", 10.5), (2, "Bob", 22.0), (3, "Cy", 30.25)]


@pytest.mark.parametrize("strict", [False, True])
def test_a_key_named_otherwise_in_the_file_is_one_line_and_loads_nothing(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, strict: bool
) -> None:
    write(tmp_path / "data" / "a.csv", FIRST)
    columns = "  strict_mode: true\n" if strict else ""
    loaded = make_pipeline(MERGE + columns + "  columns:\n    order_id: integer\n    amount: decimal\n")
    with pytest.raises(ExtractError) as caught:
        run_pipeline(loaded)
    assert str(caught.value) == (
        f"target.primary_key 'order_id': no column of {tmp_path / 'data' / 'a.csv'} is named so; its header "
        """'Order ID' would be with schema.normalize_names: snake_case, or columns.order_id: {from: "Order ID"}"""
    )
    tables = fetch(database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = %s", db_schema)
    rows = fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') if tables != [(0,)] else [(0,)]
    assert rows == [(0,)]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            '    order_id: {type: integer, from: "Order ID"}\n    ref: {type: string, from: "ORDER ID"}\n',
            r"orders\.yaml: schema\.columns\.ref\.from \(line 11\): 'ORDER ID' is already the source of column 'order_id'",
        ),
        (
            '    order_id: {type: integer, from: "amount"}\n    amount: decimal\n',
            r"orders\.yaml: schema\.columns\.order_id\.from \(line 10\): 'amount' is the name of declared column 'amount'",
        ),
    ],
)
def test_from_config_errors_name_the_key_and_line(tmp_path: Path, make_pipeline, columns: str, message: str) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match=message):
        make_pipeline(MERGE + "  columns:\n" + columns)


def test_replay_maps_the_quarantined_records_names_by_the_current_from(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", FIRST)
    declared = (
        '  columns:\n    order_id: {type: integer, from: "Order ID"}\n    total: {type: decimal, not_null: true%s}\n'
    )
    first = run_pipeline(make_pipeline(MERGE + declared % ""))
    assert (first.inserted, first.invalid) == (0, 3)  # `Amount` is not `total`: every total is empty
    report = replay_rejects(make_pipeline(MERGE + declared % ", from: Amount"))
    assert (report.examined, report.recovered, report.inserted, report.still_rejected) == (3, 3, 3, 0)
    rows = fetch(database_url, f'SELECT order_id, total::float8 FROM "{db_schema}".orders ORDER BY 1')
    assert rows == [(1, 10.5), (2, 20.0), (3, 30.25)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders__rejected') == [(0,)]
