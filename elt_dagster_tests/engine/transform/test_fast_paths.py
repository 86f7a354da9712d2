"""Pure-Python pieces of the fast load path: the hash set, and fast casts agreeing with the forgiving parsers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from elt_dagster.engine.load.hashset import HashSet, first_occurrences, hash_words
from elt_dagster.engine.transform import standardize as st
from elt_dagster.engine.transform import temporal
from elt_dagster.engine.transform.validate import HASH_COLUMN


def test_hash_set_membership_including_shared_high_words() -> None:
    stored = np.array([[5, 1], [5, 3], [9, 9], [1, 7], [5, 2]], dtype=np.uint64)
    order = np.argsort(stored[:, 0], kind="stable")
    hashes = HashSet(stored[order, 0], stored[order, 1])
    probe = np.array([[5, 2], [5, 4], [1, 7], [9, 8], [0, 0], [10, 1], [5, 3]], dtype=np.uint64)
    assert hashes.contains(probe).tolist() == [True, False, True, False, False, False, True]
    assert HashSet(np.array([], np.uint64), np.array([], np.uint64)).contains(probe).tolist() == [False] * 7


def test_hash_words_reads_hex_as_two_big_endian_words() -> None:
    words = hash_words(pa.array(["00000000000000010000000000000002", "ffffffffffffffff0000000000000000"]))
    assert words.tolist() == [[1, 2], [2**64 - 1, 0]]


def test_first_occurrences_keeps_order_and_first_of_each() -> None:
    rows = pa.table({"v": ["a", "b", "c", "d"], HASH_COLUMN: ["h1", "h2", "h1", "h3"]})
    assert first_occurrences(rows).column("v").to_pylist() == ["a", "b", "d"]


@pytest.mark.parametrize(
    ("fast", "slow", "values"),
    [
        (
            lambda v: st.standardize_integer(v, "bigint"),
            lambda v: st._integer_slow(v, "bigint"),
            ["42", "-7", "0", "042", None, "9223372036854775807"],
        ),
        (
            lambda v: st.standardize_integer(v, "integer"),
            lambda v: st._integer_slow(v, "integer"),
            ["1", "2147483647", "-2147483648"],
        ),
        (st.standardize_float, st._float_slow, ["1.5", "-0.25", "1e3", "3", None]),
        (st.standardize_decimal, st._decimal_slow, ["12.5", "0.5", "-3", "10", "0", None]),
        (
            st.standardize_timestamp,
            lambda v: temporal.timestamp_slow(v, False),
            ["2024-01-31 10:00:00", "2024-01-31T10:00:00.5", "2024-01-31", None],
        ),
        (
            lambda v: st.standardize_timestamp(v, True),
            lambda v: temporal.timestamp_slow(v, True),
            ["2024-01-31 10:00:00", "2024-01-31T10:00:00+02:00", None],
        ),
        (st.standardize_date, temporal.date_slow, ["2024-01-31", "2000-02-29", None]),
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
        xxhash.xxh3_128_hexdigest(b"\x1fa\x1ex\x1fb\x1e1"),
        xxhash.xxh3_128_hexdigest(b"\x1fa\x1ey"),  # the NULL column leaves no trace
    ]
