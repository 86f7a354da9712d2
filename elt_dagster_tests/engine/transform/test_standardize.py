"""Standardising numbers, booleans, JSON and text to canonical text."""

from __future__ import annotations

import pyarrow as pa
import pytest

from elt_dagster.engine.transform.standardize import standardize_decimal
from elt_dagster.engine.types import TYPES
from elt_dagster_tests.engine.transform.helpers import check, standardize

# --- integers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", "42"),
        (" 42 ", "42"),
        ("42.0", "42"),
        ("42.000", "42"),
        ("+7", "7"),
        ("-0", "0"),
        ("-15", "-15"),
        ("007", "7"),
        (str(2**31 - 1), str(2**31 - 1)),
        (str(-(2**31)), str(-(2**31))),
        (str(2**31), None),
        (str(-(2**31) - 1), None),
        ("4.5", None),
        ("1e3", None),
        ("1,000", None),
        ("abc", None),
        ("-", None),
    ],
)
def test_integer(raw: str, expected: str | None) -> None:
    check("integer", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (str(2**31), str(2**31)),
        ("1234567890123456789", "1234567890123456789"),  # 19 digits
        ("9223372036854775807", "9223372036854775807"),  # the limit
        ("+9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("9223372036854775807.0", "9223372036854775807"),
        ("0000000000000000000000042", "42"),
        ("9223372036854775808", None),
        ("-9223372036854775809", None),
        ("99999999999999999999999", None),
    ],
)
def test_bigint(raw: str, expected: str | None) -> None:
    check("bigint", raw, expected)


def test_bigint_of_any_length_fails_alone() -> None:
    """Python's int() refuses over 4,300 digits, leading zeros included: only 19 significant digits are read by
    it, without those zeros."""
    values = ["9" * 200_000, "-" + "9" * 5_000, "9223372036854775808", "-9223372036854775808", "7"]
    values += ["-" + "0" * 5_000 + "9223372036854775807", "0" * 5_000 + "12"]
    assert standardize("bigint", values) == [
        (None, True),
        (None, True),
        (None, True),
        ("-9223372036854775808", False),
        ("7", False),
        ("-9223372036854775807", False),
        ("12", False),
    ]


def test_integer_batch_keeps_positions() -> None:
    assert standardize("integer", ["1", "x", None, " 3 ", str(2**31)]) == [
        ("1", False),
        (None, True),
        (None, False),
        ("3", False),
        (None, True),
    ]


# --- decimals and floats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.50", "12.5"),
        ("0012.0", "12"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("+3.10", "3.1"),
        ("100", "100"),
        ("100.00", "100"),
        ("-00.50", "-0.5"),
        ("-0.0", "0"),
        ("0.000", "0"),
        (" 7.25 ", "7.25"),
        ("1,5", None),
        ("1.2.3", None),
        ("12 EUR", None),
        (".", None),
    ],
)
def test_decimal(raw: str, expected: str | None) -> None:
    check("decimal", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.5", "1.5"),
        ("1e3", "1000"),
        ("-2.5E-2", "-0.025"),
        (".5", "0.5"),
        ("1.0", "1"),
        ("1e20", "1e+20"),
        ("inf", "inf"),
        ("1,5", None),
        ("abc", None),
    ],
)
def test_float(raw: str, expected: str | None) -> None:
    check("float", raw, expected)


def test_float_out_of_range_fails() -> None:
    check("float", "1e400", None)


def test_decimals_with_an_exponent_are_written_out() -> None:
    values, failed = standardize_decimal(pa.array(["100000", "1e5", "1.0E5", "1.50e3", "-2E-2"]))
    assert values.to_pylist() == ["100000", "100000", "100000", "1500", "-0.02"]
    assert not any(failed.to_pylist())


# --- booleans ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", "t"),
        ("YES", "t"),
        ("no", "f"),
        ("No", "f"),
        ("1", "t"),
        ("0", "f"),
        ("true", "t"),
        ("TRUE", "t"),
        ("false", "f"),
        ("False", "f"),
        ("on", "t"),
        ("OFF", "f"),
        ("y", "t"),
        ("n", "f"),
        (" true ", "t"),
        ("maybe", None),
        ("2", None),
        ("yess", None),
    ],
)
def test_boolean(raw: str, expected: str | None) -> None:
    check("boolean", raw, expected)


@pytest.mark.parametrize("values", [[], [None, None]], ids=["empty", "all NULL"])
def test_boolean_holds_on_a_batch_without_values(values: list[str | None]) -> None:
    """The sum of no values is None, not 0: the fast path added None + None (issue 21, item 1)."""
    assert standardize("boolean", values) == [(None, False)] * len(values)


# --- json --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"b": 1, "a": [1, 2]}', '{"a":[1,2],"b":1}'),
        ('{"z": {"y": 1, "x": 2}}', '{"z":{"x":2,"y":1}}'),
        ("[3, 1, 2]", "[3,1,2]"),
        ('"text"', '"text"'),
        ('{"name": "K\\u00f6ln"}', '{"name":"Köln"}'),
        ("{bad", None),
        ("{'a': 1}", None),
        ('{"a": 1', None),
    ],
)
def test_json(raw: str, expected: str | None) -> None:
    check("json", raw, expected)


def test_json_key_order_does_not_matter() -> None:
    [(first, _), (second, _)] = standardize("json", ['{"a": 1, "b": 2}', '{ "b":2,"a":1 }'])
    assert first == second == '{"a":1,"b":2}'


@pytest.mark.parametrize("raw", ["NaN", '{"a": NaN}', "[Infinity]"])
def test_json_rejects_nan(raw: str) -> None:
    check("json", raw, None)


# --- empty values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(set(TYPES) - {"string"}))
def test_empty_and_whitespace_are_null_not_failures(type_name: str) -> None:
    assert standardize(type_name, ["", "   ", "\t", None]) == [(None, False)] * 4


def test_string_is_kept_as_is() -> None:
    assert standardize("string", ["  a  ", "x", None]) == [("  a  ", False), ("x", False), (None, False)]
