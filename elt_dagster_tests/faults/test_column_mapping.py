"""Column names as exports and APIs write them (issue 24, item 4): a key spelled otherwise is one line, never a
table of rows quarantined as key-less; names that collide after mapping are one line naming both; `from` maps an
API's record key as it maps a CSV header."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.http_api import FakeApi, Reply

pytestmark = pytest.mark.faults

SUITE = "column mapping"
HEAD = """
sources:
  - {source}
target:
  db_schema: {schema}
  table: orders
  mode: merge
  primary_key: [order_id]
schema:
"""
KEY_SPELLINGS = [
    ("orders.csv", "Order ID,Amount\n1,2\n", "'Order ID'"),
    ("orders.csv", "ORDERID,Amount\n1,2\n", "'ORDERID'"),
    ("orders.jsonl", '{"orderId": 1, "amount": 2}\n', "'orderId'"),
    ("orders.json", '[{"order-id": 1, "amount": 2}]', "'order-id'"),
]


@pytest.mark.parametrize(("name", "text", "header"), KEY_SPELLINGS, ids=[h for _, _, h in KEY_SPELLINGS])
def test_a_merge_key_spelled_otherwise_is_one_line_and_quarantines_nothing(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, name: str, text: str, header: str
) -> None:
    write(tmp_path / "data" / name, text)
    body = HEAD.replace("{source}", "path: ../data") + "  columns:\n    order_id: integer\n    amount: decimal\n"
    with pytest.raises(ExtractError) as caught:
        run_pipeline(make_pipeline(body))
    message = str(caught.value)
    assert "\n" not in message and f"its header {header} would be with" in message and name in message
    quarantined = fetch(database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = %s", db_schema)
    assert quarantined == [(0,)]  # nothing created: the run stopped before loading
    record(SUITE, f"merge key written {header}", "one-line error, nothing loaded")


def test_two_headers_that_normalise_alike_are_one_line_naming_both(
    tmp_path: Path, make_pipeline, db_schema: str
) -> None:
    write(tmp_path / "data" / "orders.csv", "Order ID,order_id,Amount\n1,1,2\n")
    body = (
        HEAD.replace("{source}", "path: ../data") + "  normalize_names: snake_case\n  columns:\n    order_id: integer\n"
    )
    with pytest.raises(ExtractError, match=r"orders\.csv: columns 'Order ID' and 'order_id' both map to 'order_id'"):
        run_pipeline(make_pipeline(body))
    record(SUITE, "two headers normalised alike", "one-line error naming both")


def test_from_maps_an_api_record_key_like_a_header(
    server: FakeApi, make_pipeline, database_url: str, db_schema: str
) -> None:
    records = [{"Order ID": 1, "Amount": "2.5"}, {"Order ID": 2, "Amount": "3"}]
    url = server.route("/orders", lambda seen: Reply({"items": records}))
    source = "{type: api, url: " + url + ", records_path: items}"
    body = HEAD.replace("{source}", source) + '  columns:\n    order_id: {type: integer, from: "Order ID"}\n'
    report = run_pipeline(make_pipeline(body))
    assert (report.inserted, report.invalid) == (2, 0)
    rows = fetch(database_url, f'SELECT order_id, amount FROM "{db_schema}".orders ORDER BY 1')
    assert rows == [(1, "2.5"), (2, "3")]
    record(SUITE, "API record key mapped by from", "loaded")
