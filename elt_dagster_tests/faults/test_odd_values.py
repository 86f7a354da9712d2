"""Odd values and empty batches through a real load: the other rows load, the odd record is quarantined with a
reason a person can read, the run never fails on one value (issue 21, items 1 and 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

COLUMNS = {
    "id": "integer",
    "n": "bigint",
    "x": "float",
    "amount": "decimal",
    "ok": "boolean",
    "day": "date",
    "at": "timestamp",
    "atz": "timestamptz",
    "doc": "json",
    "note": "string",
}
GOOD = {
    "n": "7",
    "x": "1.5",
    "amount": "12.50",
    "ok": "yes",
    "day": "2024-01-31",
    "at": "2024-01-31 10:00",
    "atz": "2024-01-31T10:00:00Z",
    "doc": "[1]",
    "note": "fine",
}


def pipeline_yaml() -> str:
    columns = "".join(f"    {name}: {type_name}\n" for name, type_name in COLUMNS.items())
    head = "sources:\n  - type: local\n    path: ../data\ntarget:\n  db_schema: {schema}\n  table: odd\n"
    return head + "schema:\n  columns:\n" + columns


def csv_row(row_id: str, **values: str) -> str:
    return ",".join([row_id] + [{**GOOD, **values}[name] for name in list(COLUMNS)[1:]])


NUMERIC_RANGE = "is beyond PostgreSQL's numeric range"
ODD_VALUES = [
    ("amount", "1e100000000", NUMERIC_RANGE),
    ("amount", "-1e9999999999999999999999", NUMERIC_RANGE),
    ("amount", "9" * 200_000, NUMERIC_RANGE),
    ("amount", "0." + "0" * 20_000 + "1", NUMERIC_RANGE),
    ("day", "99999-01-01", "is out of range for a date (years 1 to 9999)"),
    ("day", "10000-01-01", "is out of range for a date (years 1 to 9999)"),
    ("at", "10000-01-01 00:00:00", "is out of range for a timestamp (years 1 to 9999)"),
    ("at", "0000-01-01", "is out of range for a timestamp (years 1 to 9999)"),
    ("atz", "9999-12-31T23:00:00-05:00", "is out of range for a timestamp (years 1 to 9999)"),
    ("n", "9" * 200_000, "is out of range for an integer (64-bit)"),
    ("id", "3000000000", "is out of range for an integer (32-bit)"),
    ("x", "1e400", "is out of range for a number (double precision)"),
    ("doc", "[1e100000000]", "is not valid JSON that jsonb can store (no NaN, no NUL, numbers within numeric's range)"),
    ("doc", "[" * 5_000, "is not valid JSON"),
    ("note", "a\x00b", "is not text without NUL characters"),
]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    ODD_VALUES,
    ids=[f"{c}={v if len(v) < 30 else v[:10] + f'...({len(v)} chars)'}" for c, v, _ in ODD_VALUES],
)
def test_an_odd_value_is_quarantined_and_the_other_rows_load(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, column: str, value: str, reason: str
) -> None:
    odd_row = csv_row(value) if column == "id" else csv_row("2", **{column: value})
    lines = [csv_row("1"), odd_row, csv_row("3")]
    write(tmp_path / "data" / "odd.csv", ",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    report = run_pipeline(make_pipeline(pipeline_yaml()))
    assert (report.inserted, report.rejected) == (2, 1)
    assert fetch(database_url, f'SELECT id, amount FROM "{db_schema}".odd ORDER BY id') == [(1, 12.5), (3, 12.5)]
    [(column_name, why, row)] = fetch(
        database_url, f'SELECT column_name, reason, source_row FROM "{db_schema}".odd__rejected'
    )
    assert (column_name, row) == (column, 2) and why.startswith(f"column {column!r}: '") and reason in why
    assert "\n" not in why and len(why) < 300
    record("odd values", f"{column}: {value[:20]}", "other rows loaded, value quarantined with its reason")


def test_a_file_whose_every_record_is_set_aside_beside_a_good_one(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Issue 21, item 1, with every declared type: the bad file's batch is empty after reading."""
    write(tmp_path / "data" / "good.csv", ",".join(COLUMNS) + "\n" + csv_row("1") + "\n" + csv_row("2") + "\n")
    write(tmp_path / "data" / "bad.csv", ",".join(COLUMNS) + "\n" + csv_row("3") + ",extra\n")
    report = run_pipeline(make_pipeline(pipeline_yaml()))
    assert (report.inserted, report.rejected) == (2, 1)
    assert fetch(database_url, f'SELECT id, ok, day::text FROM "{db_schema}".odd ORDER BY id') == [
        (1, True, "2024-01-31"),
        (2, True, "2024-01-31"),
    ]
    [(source,)] = fetch(database_url, f'SELECT source FROM "{db_schema}".odd__rejected')
    assert source.endswith("bad.csv")
    record("odd values", "every record of a file set aside while reading", "good file loaded, record quarantined")


def test_values_at_the_edge_of_each_range_load(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """What the standardisers accept, PostgreSQL stores: the widest decimals and the first and last instants."""
    edges = [
        {"amount": "9" * 131_072, "day": "9999-12-31", "at": "9999-12-31 23:59:59.999999", "n": "-9223372036854775808"},
        {"amount": "0." + "0" * 16_382 + "1", "day": "0001-01-01", "atz": "0001-01-01T00:00:00Z", "id": "-2147483648"},
    ]
    lines = [csv_row(edge.pop("id", str(number)), **edge) for number, edge in enumerate(edges, 1)]
    write(tmp_path / "data" / "edges.csv", ",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    report = run_pipeline(make_pipeline(pipeline_yaml()))
    assert (report.inserted, report.rejected) == (2, 0)
    stored = fetch(database_url, f'SELECT length(amount::text), day::text FROM "{db_schema}".odd ORDER BY id DESC')
    assert stored == [(131_072, "9999-12-31"), (16_385, "0001-01-01")]
    record("odd values", "the edges of each range", "loaded")
