"""Numbers as exports write them (`thousands`, `decimal_mark`, `currency`, `trailing_minus`): read on the fast path,
refused when written otherwise than declared, and a replay after declaring them recovers what was quarantined."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.transform.numbers import NumberFormat, plain_numbers
from elt_dagster.engine.transform.validate import check_batch
from elt_dagster_tests.conftest import fetch, write


@pytest.mark.parametrize(
    ("number_format", "written", "plain", "refused"),
    [
        (NumberFormat(","), ["1,063.00", "1,063,000.5", "-2,000", "1063", "12", None, ""], None, []),
        (NumberFormat(","), ["1,06,3", "10,5", ",100", "1,0000"], None, [0, 1, 2, 3]),
        (NumberFormat(".", ","), ["1.063,00", "1,5", "7", "1.063.000,25"], ["1063.00", "1.5", "7", "1063000.25"], []),
        (NumberFormat(".", ","), ["1.5", "1.06,3"], None, [0, 1]),  # a dot is a thousands separator, in groups
        (NumberFormat(None, ","), ["1,5", "1.5"], ["1.5", "1.5"], [1]),  # a dot where the mark is a comma
        (NumberFormat(",", ".", "$"), ["$1,063.00", " 1,063.00 $ ", "$ 7"], ["1063.00", "1063.00", "7"], []),
        (
            NumberFormat(None, ".", "EUR", True),
            ["12.50-", "EUR 12.50-", "-3", "4"],
            ["-12.50", "-12.50", "-3", "4"],
            [],
        ),
    ],
)
def test_numbers_are_read_as_declared_and_refused_when_written_otherwise(
    number_format: NumberFormat, written: list, plain: list | None, refused: list[int]
) -> None:
    text, refusals = plain_numbers(pa.array(written, pa.string()), number_format)
    if plain is not None:
        assert text.to_pylist() == plain
    elif not refused:
        assert text.to_pylist() == ["1063.00", "1063000.5", "-2000", "1063", "12", None, ""]
    assert [i for i, value in enumerate(refusals.to_pylist()) if value] == refused


def test_a_refused_value_is_rejected_with_the_value_as_written(tmp_path: Path, make_pipeline) -> None:
    batch = pa.table(
        {
            "amount": pa.array(["1,063.00", "1,06,3", "12"]),
            "_elt_source": pa.array(["a.csv"] * 3),
            "_elt_source_row": pa.array([1, 2, 3], pa.int64()),
        }
    )
    (tmp_path / "data").mkdir()
    loaded = make_pipeline(
        "sources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
        "schema:\n  columns:\n    amount: {type: decimal, thousands: ','}\n"
    )
    rules = loaded.config.schema_.rules
    checked = check_batch(batch, {"amount": "decimal"}, [], {"amount": rules["amount"]})
    assert checked.rows.column("amount").to_pylist() == ["1063", "12"]  # canonical: no trailing zeros
    assert [(r["source_row"], r["column"]) for r in checked.rejects] == [(2, "amount")]
    assert "'1,06,3'" in checked.rejects[0]["reason"]


def test_amounts_with_separators_wait_in_quarantine_until_the_yaml_says_how_they_are_written(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """The issue's story: `1,063.00` is quarantined; `thousands: ","` added to the column; the replay loads exactly
    the quarantined amounts, and a re-run of the file adds nothing."""
    write(tmp_path / "data" / "orders.csv", 'id,amount\n1,12.50\n2,"1,063.00"\n3,"12,345,678.9"\n4,7\n')
    body = "sources:\n  - path: ../data\ntarget:\n  table: orders\n  db_schema: {schema}\nschema:\n  columns:\n"
    plain = make_pipeline(body + "    id: integer\n    amount: decimal\n")
    first = run_pipeline(plain)
    assert (first.inserted, first.rejected) == (2, 2)
    declared = make_pipeline(body + "    id: integer\n    amount: {type: decimal, thousands: ','}\n")
    replayed = replay_rejects(declared)
    assert (replayed.recovered, replayed.inserted, replayed.remaining) == (2, 2, 0)
    rows = fetch(database_url, f'SELECT id, amount FROM "{db_schema}".orders ORDER BY id')
    assert rows == [(1, Decimal("12.50")), (2, Decimal("1063.00")), (3, Decimal("12345678.9")), (4, Decimal("7"))]
    assert run_pipeline(declared, full_refresh=True).inserted == 0  # the same rows, the same hashes
