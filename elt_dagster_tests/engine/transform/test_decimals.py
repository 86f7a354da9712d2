"""Decimals within PostgreSQL's numeric range: a value beyond it fails (to be quarantined), never the whole load."""

from __future__ import annotations

import pyarrow as pa
import pytest

from elt_dagster.engine.transform.decimals import (
    MAX_DIGITS_AFTER_POINT,
    MAX_DIGITS_BEFORE_POINT,
    decimal_slow,
    json_number,
    standardize_decimal,
)
from elt_dagster_tests.engine.transform.helpers import check, standardize

LONGEST_WHOLE = "9" * MAX_DIGITS_BEFORE_POINT
LONGEST_FRACTION = "0." + "0" * (MAX_DIGITS_AFTER_POINT - 1) + "1"


@pytest.mark.parametrize(
    "raw",
    [
        "1e100000000",
        "-1e100000000",
        "1E+999999999999999999",
        "1e9999999999999999999999",  # beyond what Python's decimal holds
        "9" * 200_000,
        "9" * (MAX_DIGITS_BEFORE_POINT + 1),
        "-" + "9" * (MAX_DIGITS_BEFORE_POINT + 1),
        "1e131072",
        "10e131071",
        "0." + "0" * MAX_DIGITS_AFTER_POINT + "1",
        "1e-16384",
        "1e-100000000",
    ],
    ids=lambda raw: raw if len(raw) < 30 else f"{raw[:8]}...({len(raw)} characters)",
)
def test_a_decimal_beyond_the_numeric_range_fails(raw: str) -> None:
    check("decimal", raw, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (LONGEST_WHOLE, LONGEST_WHOLE),
        ("-" + LONGEST_WHOLE, "-" + LONGEST_WHOLE),
        ("0" * 200_000 + "1", "1"),  # leading zeros are not digits of the value
        ("12.5" + "0" * 20_000, "12.5"),  # nor are trailing zeros after the point
        (LONGEST_FRACTION, LONGEST_FRACTION),
        ("1e131071", "1" + "0" * 131_071),
        ("1.0e-16383", LONGEST_FRACTION),
        ("0e100000000", "0"),
    ],
    ids=[
        "131072 digits",
        "-131072 digits",
        "leading zeros",
        "trailing zeros",
        "16383 after",
        "1e131071",
        "1e-16383",
        "0e",
    ],
)
def test_a_decimal_at_the_edge_of_the_range_is_kept(raw: str, expected: str) -> None:
    check("decimal", raw, expected)


def test_an_exponent_keeps_every_digit() -> None:
    """Python's default decimal context rounds to 28 digits: written out, every digit must stay."""
    check("decimal", "1.23456789012345678901234567890e5", "123456.78901234567890123456789")
    check("decimal", "9" * 20_000 + "e5", "9" * 20_000 + "00000")


def test_the_fast_path_agrees_with_the_slow_one_on_long_values() -> None:
    values = pa.array([LONGEST_WHOLE, "9" * 200_000, "1", None, LONGEST_FRACTION + "1", "2.50"], pa.string())
    fast, slow = standardize_decimal(values), decimal_slow(values)
    assert fast[0].to_pylist() == slow[0].to_pylist()
    assert fast[1].to_pylist() == slow[1].to_pylist() == [False, True, False, False, True, False]


def test_one_value_out_of_range_fails_alone() -> None:
    assert standardize("decimal", ["1.5", "1e100000000", None, "2"]) == [
        ("1.5", False),
        (None, True),
        (None, False),
        ("2", False),
    ]


@pytest.mark.parametrize("raw", ["1e100000000", "1e-16384", "1.0e-16383", "1e9999999999999999999999", "1e131072"])
def test_a_json_number_jsonb_cannot_store_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="beyond the range of a stored number"):
        json_number(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("[1E+1000]", "[1E+1000]"), ("0e999999", "0E+999999"), ('{"a": 1e-16383}', '{"a":1E-16383}'), ("12.50", "12.50")],
)
def test_a_json_number_jsonb_stores_is_kept_as_written(raw: str, expected: str) -> None:
    check("json", raw, expected)


@pytest.mark.parametrize("raw", ["1e100000000", "[1e-16384]", '{"a": 1e131072}', "1e9999999999999999999999"])
def test_a_json_document_with_a_number_jsonb_cannot_store_fails(raw: str) -> None:
    check("json", raw, None)


def test_a_json_integer_of_thousands_of_digits_is_kept() -> None:
    """Python's int() refuses over 4,300 digits; jsonb stores up to 131,072."""
    check("json", "[" + "9" * 5_000 + "]", "[" + "9" * 5_000 + "]")
    check("json", "9" * (MAX_DIGITS_BEFORE_POINT + 1), None)
