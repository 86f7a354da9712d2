"""Fast casts agree with the forgiving parsers, and the row hash definition is stable."""

from __future__ import annotations

import pyarrow as pa
import pytest

from elt_dagster.engine.transform import decimals as dm
from elt_dagster.engine.transform import standardize as st
from elt_dagster.engine.transform import temporal as tm


@pytest.mark.parametrize(
    ("fast", "slow", "values"),
    [
        (
            lambda v: st.standardize_integer(v, 64),
            lambda v: st._integer_slow(v, 64),
            ["42", "-7", "0", "042", None, "9223372036854775807"],
        ),
        (
            lambda v: st.standardize_integer(v, 32),
            lambda v: st._integer_slow(v, 32),
            ["1", "2147483647", "-2147483648"],
        ),
        (st.standardize_float, st._float_slow, ["1.5", "-0.25", "1e3", "3", None]),
        (st.standardize_decimal, dm.decimal_slow, ["12.5", "0.5", "-3", "10", "0", None]),
        (
            tm.standardize_timestamp,
            lambda v: tm.timestamp_slow(v, False),
            ["2024-01-31 10:00:00", "2024-01-31T10:00:00.5", "2024-01-31", None],
        ),
        (
            lambda v: tm.standardize_timestamp(v, True),
            lambda v: tm.timestamp_slow(v, True),
            ["2024-01-31 10:00:00", "2024-01-31T10:00:00+02:00", None],
        ),
        (tm.standardize_date, tm.date_slow, ["2024-01-31", "2000-02-29", None]),
        (st.standardize_boolean, st._boolean_slow, ["true", "False", "1", "NO", "y", "On", None, "off"]),
        (tm.standardize_timestamp, lambda v: tm.timestamp_slow(v, False), ["2024-01-31 10:00:00", "1969-12-31", None]),
    ],
)
def test_fast_paths_agree_with_the_forgiving_parsers(fast, slow, values) -> None:
    """Clean data takes the fast path; its canonical text must equal the slow path's, or hashes would differ."""
    array = pa.array(values, pa.string())
    assert fast(array)[0].to_pylist() == slow(array)[0].to_pylist()
    assert not any(fast(array)[1].to_pylist())


def test_row_hash_definition_is_stable() -> None:
    """Stored hashes must never change meaning: pin the hashed text, with and without NULLs."""
    import xxhash

    from elt_dagster.engine.transform.validate import row_hashes

    hashes = row_hashes({"b": pa.array(["1", None]), "a": pa.array(["x", "y"])}).to_pylist()
    assert hashes == [
        xxhash.xxh3_128_digest(b"\x1fa\x1ex\x1fb\x1e1"),
        xxhash.xxh3_128_digest(b"\x1fa\x1ey"),  # the NULL column leaves no trace
    ]


@pytest.mark.parametrize(
    ("standardize", "values"),
    [
        (tm.standardize_timestamp, ["0000-06-01 10:00:00", "2024-01-01 00:00:00"]),
        (lambda v: tm.standardize_timestamp(v, True), ["0000-06-01 10:00:00Z", "2024-01-01 00:00:00Z"]),
        (tm.standardize_date, ["0000-06-01", "2024-01-01"]),
    ],
)
def test_year_zero_fails_on_the_fast_path_too(standardize, values) -> None:
    text, failed = standardize(pa.array(values, pa.string()))
    assert text[0].as_py() is None and text[1].as_py().startswith("2024-01-01")
    assert failed.to_pylist() == [True, False]


def test_decimals_with_zeros_after_the_point_agree_with_the_forgiving_parser() -> None:
    """`12.50` has its zeros dropped without the slow path; every other spelling still goes that way."""
    values = ["12.50", "3.0", "-0.0", "0.10", "-12.500", "00.50", "1.50e2", " 1.50", "100", "-0.000", "5.", ".50"]
    values += ["-.50", "0.0", "10.010", "1.0.0", "abc", "", None, "7", "-3.25"]
    array = pa.array(values, pa.string())
    fast, slow = st.standardize_decimal(array), dm.decimal_slow(array)
    assert fast[0].to_pylist() == slow[0].to_pylist()
    assert fast[1].to_pylist() == slow[1].to_pylist()


@pytest.mark.parametrize(
    ("values", "expected", "failed"),
    [
        (["a", "Zürich", None, "x y"], ["a", "Zürich", None, "x y"], [False] * 4),  # one byte a value looked at
        (["a", " ", "", "\u00a0", "\t\n", " x", "ünï"], ["a", None, None, None, None, " x", "ünï"], [False] * 7),
        (["a", "b\x00c"], ["a", "b\x00c"], [False, True]),
    ],
    ids=["printable starts", "blank or maybe blank", "NUL"],
)
def test_text_blank_and_nul_checks(values, expected, failed) -> None:
    text, failures = st.standardize_string(pa.array(values, pa.string()))
    assert text.to_pylist() == expected
    assert failures.to_pylist() == failed
    sliced, _ = st.standardize_string(pa.array(["", *values], pa.string()).slice(1))
    assert sliced.to_pylist() == expected
