"""Row rules on batches: each rule rejects exactly the rows that break it, with the rule and the value as reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from elt_dagster.engine.config import ColumnRules
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.staging import SOURCE_COLUMN, SOURCE_ROW_COLUMN
from elt_dagster.engine.transform.temporal import standardize_with_format
from elt_dagster.engine.transform.validate import HASH_COLUMN, CheckedBatch, check_batch
from elt_dagster.engine.types import TYPES
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.transform.test_validate import pipeline, rejected_rows


def checked(type_name: str, values: list[str | None], **rules: Any) -> CheckedBatch:
    """`values` as column `c` of `type_name` (beside a text column, so that no record is all empty), checked with
    `rules` (ColumnRules keys besides `type`)."""
    batch = pa.table(
        {
            "c": pa.array(values, pa.string()),
            "k": ["k"] * len(values),
            SOURCE_COLUMN: ["f"] * len(values),
            SOURCE_ROW_COLUMN: list(range(1, len(values) + 1)),
        }
    )
    column = ColumnRules.model_validate({"type": type_name, **rules})
    return check_batch(batch, {"c": type_name, "k": "string"}, [], {"c": column})


def rejects(type_name: str, values: list[str | None], **rules: Any) -> dict[int, str]:
    """The rejected rows (1-based) and their reasons; every reject names column `c`."""
    result = checked(type_name, values, **rules)
    assert all(r["column"] == "c" for r in result.rejects)
    assert result.rows.num_rows + len(result.rejects) == len(values)
    return {r["source_row"]: r["reason"] for r in result.rejects}


def test_not_null_rejects_only_empty_values() -> None:
    assert rejects("decimal", ["1", None, "", " ", "0"], not_null=True) == {
        2: "column 'c': is empty (not_null)",
        3: "column 'c': is empty (not_null)",
        4: "column 'c': is empty (not_null)",
    }
    assert rejects("string", ["a", "  ", ""], not_null=True) == {
        2: "column 'c': is empty (not_null)",
        3: "column 'c': is empty (not_null)",
    }


def test_min_and_max_are_inclusive_on_the_typed_value() -> None:
    values = ["-5", "0", "0.00", "10", "9.999", "10.0001", "+7", "1e1", None]
    assert rejects("decimal", values, min=0, max=10) == {
        1: "column 'c': -5 is below min 0",
        6: "column 'c': 10.0001 is above max 10",
    }
    assert rejects("integer", ["-1", "0", "9", "10", "100"], min=0, max=9) == {
        1: "column 'c': -1 is below min 0",
        4: "column 'c': 10 is above max 9",
        5: "column 'c': 100 is above max 9",
    }
    # numbers, not text: "9" < "10" although "9" > "10" as text
    assert rejects("bigint", ["9", "10", "11"], min=9, max=10) == {3: "column 'c': 11 is above max 10"}


def test_float_bounds_and_nan_is_above_every_number() -> None:
    assert rejects("float", ["0.5", "-inf", "inf", "nan", "1.5"], min=0, max=1.5) == {
        2: "column 'c': -inf is below min 0",
        3: "column 'c': inf is above max 1.5",
        4: "column 'c': nan is above max 1.5",
    }
    assert rejects("float", ["nan"], min=0) == {}


def test_decimal_bounds_are_exact_beyond_float_precision() -> None:
    tiny_below = "0.09999999999999999999"
    tiny_above = "0.10000000000000000001"
    huge = "1" + "0" * 400
    assert rejects("decimal", [tiny_below, "0.1", tiny_above, huge, "-" + huge], min="0.1", max="1e300") == {
        1: f"column 'c': {tiny_below} is below min 0.1",
        4: f"column 'c': {huge[:80]} is above max {'1' + '0' * 300}",
        5: f"column 'c': -{huge[:79]} is below min 0.1",
    }


def test_date_and_timestamp_bounds() -> None:
    assert rejects(
        "date", ["2023-12-31", "01.01.2024", "2024-12-31", "2025-01-01"], min="2024-01-01", max="2024-12-31"
    ) == {
        1: "column 'c': 2023-12-31 is below min 2024-01-01",
        4: "column 'c': 2025-01-01 is above max 2024-12-31",
    }
    assert rejects("timestamp", ["2024-01-01 00:00", "2023-12-31 23:59:59.5"], min="2024-01-01") == {
        2: "column 'c': 2023-12-31 23:59:59.500000 is below min 2024-01-01 00:00:00"
    }
    # the same instant in another zone is not below it
    assert rejects("timestamptz", ["2024-01-01 10:00+02:00", "2024-01-01 07:59Z"], min="2024-01-01 08:00Z") == {
        2: "column 'c': 2024-01-01 07:59:00Z is below min 2024-01-01 08:00:00Z"
    }


def test_allowed_compares_the_standardised_value() -> None:
    values = ["open", "shipped", "Open", " open", None, "paid"]
    assert rejects("string", values, allowed=["open", "paid", "cancelled"]) == {
        2: "column 'c': 'shipped' is not one of open, paid, cancelled",
        3: "column 'c': 'Open' is not one of open, paid, cancelled",
        4: "column 'c': ' open' is not one of open, paid, cancelled",
    }
    assert rejects("integer", ["1", " 2 ", "2.0", "3"], allowed=[1, 2]) == {4: "column 'c': 3 is not one of 1, 2"}
    assert rejects("boolean", ["yes", "no", "1"], allowed=[True]) == {2: "column 'c': f is not one of t"}


def test_a_long_allowed_list_is_cut_in_the_reason() -> None:
    allowed = [str(n) for n in range(20)]
    assert rejects("integer", ["25"], allowed=allowed) == {
        1: "column 'c': 25 is not one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... (20 values)"
    }


def test_pattern_searches_unless_anchored() -> None:
    values = ["a@b.c", "x", "@", "a@b@c", None, "ab@"]
    assert rejects("string", values, pattern="^[^@]+@[^@]+$") == {
        2: "column 'c': 'x' does not match pattern '^[^@]+@[^@]+$'",
        3: "column 'c': '@' does not match pattern '^[^@]+@[^@]+$'",
        4: "column 'c': 'a@b@c' does not match pattern '^[^@]+@[^@]+$'",
        6: "column 'c': 'ab@' does not match pattern '^[^@]+@[^@]+$'",
    }
    assert rejects("string", ["xx@yy", "none"], pattern="@") == {2: "column 'c': 'none' does not match pattern '@'"}
    long_text = "y" * 100
    assert rejects("string", [long_text], pattern="^x") == {1: f"column 'c': '{'y' * 80}' does not match pattern '^x'"}


def test_null_passes_every_rule_but_not_null() -> None:
    values: list[str | None] = [None, "", "   "]
    assert rejects("string", values, allowed=["a"], pattern="^a$") == {}
    assert rejects("decimal", values, min=1, max=2) == {}
    assert len(rejects("decimal", values, min=1, not_null=True)) == 3


def test_one_reason_per_row_in_rule_order() -> None:
    assert rejects("integer", ["-5", "50", "5"], min=0, max=10, allowed=[5, 50, -5]) == {
        1: "column 'c': -5 is below min 0",
        2: "column 'c': 50 is above max 10",
    }
    assert rejects("string", ["b", "zz"], allowed=["a", "zz"], pattern="^a") == {
        1: "column 'c': 'b' is not one of a, zz",
        2: "column 'c': 'zz' does not match pattern '^a'",
    }


def test_a_conversion_failure_keeps_its_reason() -> None:
    assert rejects("decimal", ["abc", "-1", ""], not_null=True, min=0) == {
        1: "column 'c': 'abc' is not a decimal number (with a dot)",
        2: "column 'c': -1 is below min 0",
        3: "column 'c': is empty (not_null)",
    }


def test_the_first_failing_column_gives_the_reason() -> None:
    batch = pa.table(
        {
            "a": ["x", "1", "-1", "1"],
            "b": ["-1", "-1", "zz", "1"],
            SOURCE_COLUMN: ["f"] * 4,
            SOURCE_ROW_COLUMN: [1, 2, 3, 4],
        }
    )
    rules = {
        "a": ColumnRules.model_validate({"type": "integer", "min": 0}),
        "b": ColumnRules.model_validate({"type": "integer", "min": 0}),
    }
    result = check_batch(batch, {"a": "integer", "b": "integer"}, [], rules)
    assert [(r["source_row"], r["column"], r["reason"]) for r in result.rejects] == [
        (1, "a", "column 'a': 'x' is not an integer (32-bit)"),
        (2, "b", "column 'b': -1 is below min 0"),
        (3, "a", "column 'a': -1 is below min 0"),
    ]
    assert result.rows.column("a").to_pylist() == ["1"]


def test_a_clean_batch_with_rules_keeps_every_row_and_hash() -> None:
    values = [str(n) for n in range(1000)] + [None]
    plain = checked("decimal", values)
    ruled = checked("decimal", values, not_null=False, min=0, max=999, allowed=list(range(1000)))
    assert (ruled.rejects, ruled.rows.num_rows) == ([], 1001)
    assert ruled.rows.equals(plain.rows)
    assert ruled.rows.column(HASH_COLUMN).equals(plain.rows.column(HASH_COLUMN))


@pytest.mark.parametrize("type_name", ["string", "integer", "date"])
def test_rules_with_nothing_to_check_change_nothing(type_name: str) -> None:
    values = {"string": ["a", None], "integer": ["1", None], "date": ["2024-01-01", None]}[type_name]
    described = checked(type_name, values, description="only words")
    assert described.rows.equals(checked(type_name, values).rows) and described.rejects == []


def test_the_dry_run_applies_the_rules(tmp_path: Path) -> None:
    columns = {
        "id": "integer",
        "amount": "{type: decimal, not_null: true, min: 0, description: Order total in EUR}",
        "status": "{type: string, allowed: [open, paid, cancelled]}",
        "email": '{type: string, pattern: "^[^@]+@[^@]+$"}',
    }
    loaded = pipeline(tmp_path, columns)
    write(
        tmp_path / "data" / "orders.csv",
        """\
        id,amount,status,email
        1,10,open,a@b
        2,-5,open,a@b
        3,10,shipped,a@b
        4,10,paid,x
        5,,open,a@b
        6,1.50,,
        """,
    )
    result = check_pipeline(loaded, tmp_path / "staging", keep_rows=100)
    assert (result.rows_valid, result.rejected) == (2, 4)
    assert [row["id"] for row in result.first_rows] == ["1", "6"]
    assert [(r["source_row"], r["column"], r["reason"]) for r in rejected_rows(result)] == [
        (2, "amount", "column 'amount': -5 is below min 0"),
        (3, "status", "column 'status': 'shipped' is not one of open, paid, cancelled"),
        (4, "email", "column 'email': 'x' does not match pattern '^[^@]+@[^@]+$'"),
        (5, "amount", "column 'amount': is empty (not_null)"),
    ]


def test_a_run_quarantines_rule_breakers_and_loads_the_rest(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(
        tmp_path / "data" / "orders.csv",
        """\
        id,amount,status,email
        1,10.50,open,a@b
        2,-5,open,a@b
        3,10,shipped,a@b
        4,10,paid,x
        5,,open,a@b
        6,abc,open,a@b
        7,0,cancelled,
        """,
    )
    loaded = make_pipeline(
        """
        sources:
          - type: local
            path: ../data
        target:
          table: orders
          db_schema: {schema}
        schema:
          columns:
            id: integer
            amount: {type: decimal, not_null: true, min: 0, description: Order total in EUR}
            status: {type: string, allowed: [open, paid, cancelled]}
            email:  {type: string, pattern: "^[^@]+@[^@]+$"}
        """
    )
    result = run_pipeline(loaded, run_id="run-rules")
    assert (result.inserted, result.rejected) == (2, 5)
    loaded_rows = fetch(database_url, f'SELECT id, amount::text, status, email FROM "{db_schema}".orders ORDER BY id')
    assert loaded_rows == [(1, "10.5", "open", "a@b"), (7, "0", "cancelled", None)]
    rejected = fetch(
        database_url,
        f'SELECT source_row, column_name, reason, raw_record, run_id FROM "{db_schema}".orders__rejected ORDER BY 1',
    )
    assert [row[:3] for row in rejected] == [
        (2, "amount", "column 'amount': -5 is below min 0"),
        (3, "status", "column 'status': 'shipped' is not one of open, paid, cancelled"),
        (4, "email", "column 'email': 'x' does not match pattern '^[^@]+@[^@]+$'"),
        (5, "amount", "column 'amount': is empty (not_null)"),
        (6, "amount", "column 'amount': 'abc' is not a decimal number (with a dot)"),
    ]
    assert rejected[0][3] == {"id": "2", "amount": "-5", "status": "open", "email": "a@b"}
    assert {row[4] for row in rejected} == {"run-rules"}


@pytest.mark.parametrize(
    ("type_name", "expected"),
    [
        ("date", ["2024-01-31", "2024-02-01", "2024-03-05", None]),
        ("timestamp", ["2024-01-31 00:00:00", "2024-02-01 00:00:00", "2024-03-05 00:00:00", None]),
        ("timestamptz", ["2024-01-31 00:00:00Z", "2024-02-01 00:00:00Z", "2024-03-05 00:00:00Z", None]),
    ],
)
def test_a_format_reads_its_spelling_first_and_the_usual_ones_after(type_name: str, expected: list) -> None:
    """`01/02/2024` is February 1 under `%d/%m/%Y` (January 2 in the usual US spelling); ISO still reads."""
    raw = pa.array(["31/01/2024", "01/02/2024", "2024-03-05", "31/02/2024"])
    usual = TYPES[type_name].standardize
    values, failed = standardize_with_format(raw, TYPES[type_name].arrow_type(), "%d/%m/%Y", usual)
    assert values.to_pylist() == expected
    assert failed.to_pylist() == [False, False, False, True]  # February 31 is not rolled over
    assert usual(raw)[0].to_pylist()[1] != expected[1]  # without the format: US order
