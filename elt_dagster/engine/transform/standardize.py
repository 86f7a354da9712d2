"""Vectorised type standardisation: string column in, canonical text column and a failure mask out.

The canonical text is what PostgreSQL receives through COPY and what the row hash is computed from, so
"42", " 42 " and "42.0" in an integer column are the same value and the same hash.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.transform.arrays import (
    Standardized,
    clean_text,
    failed_mask,
    keep_where,
    no_failures,
    starts_printable,
    value_bytes,
)
from elt_dagster.engine.transform.decimals import standardize_decimal
from elt_dagster.engine.transform.json_values import standardize_json
from elt_dagster.engine.transform.patterns import FLOAT_TEXT, INTEGER_TEXT
from elt_dagster.engine.transform.temporal import standardize_date, standardize_timestamp

__all__ = [  # the standardisers the type registry (engine/types.py) names
    "standardize_boolean",
    "standardize_date",
    "standardize_decimal",
    "standardize_float",
    "standardize_integer",
    "standardize_json",
    "standardize_string",
    "standardize_timestamp",
]

TRUE_WORDS = ["true", "t", "yes", "y", "1", "on"]
FALSE_WORDS = ["false", "f", "no", "n", "0", "off"]


def int_range(bits: int) -> tuple[int, int]:
    """The lowest and highest signed integer of `bits` bits."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _integer_slow(values: pa.Array, bits: int) -> Standardized:
    low, high = int_range(bits)
    values = clean_text(values)
    ok = pc.match_substring_regex(values, INTEGER_TEXT)
    digits = pc.replace_substring_regex(pc.replace_substring_regex(keep_where(values, ok), r"\.0*$", ""), r"^\+", "")
    significant = pc.utf8_length(pc.replace_substring_regex(digits, r"^-?0*", ""))
    fits = pc.less_equal(significant, 18)
    numbers = pc.cast(keep_where(digits, fits), pa.int64())
    in_range = pc.and_(pc.greater_equal(numbers, low), pc.less_equal(numbers, high))
    ok = pc.fill_null(in_range, False)
    canonical = pc.cast(keep_where(numbers, ok), pa.string())
    if bits == 64:  # 19-digit values near the int64 limits: few, checked one by one (longer never fit)
        long_values = pc.fill_null(pc.equal(significant, 19), False)
        if pc.any(long_values).as_py():
            canonical, ok = _exact_bigints(digits, long_values, canonical, ok)
    return canonical, failed_mask(values, ok)


def _exact_bigints(
    digits: pa.Array, long_values: pa.Array, canonical: pa.Array, ok: pa.Array
) -> tuple[pa.Array, pa.Array]:
    low, high = int_range(64)
    texts, oks = canonical.to_pylist(), ok.to_pylist()
    for index, (text, is_long) in enumerate(zip(digits.to_pylist(), long_values.to_pylist(), strict=True)):
        if is_long:  # leading zeros taken off: int() refuses over 4,300 digits, zeros included
            number = int(text[0] + text[1:].lstrip("0") if text[0] == "-" else text.lstrip("0"))
            if low <= number <= high:
                texts[index], oks[index] = str(number), True
    return pa.array(texts, pa.string()), pa.array(oks, pa.bool_())


def _float_slow(values: pa.Array) -> Standardized:
    values = clean_text(values)
    ok = pc.match_substring_regex(values, FLOAT_TEXT, ignore_case=True)
    numbers = pc.cast(keep_where(values, ok), pa.float64())
    # "1e400" parses as infinity; PostgreSQL rejects it as out of range, so do we (a spelled-out "inf" is fine)
    overflow = pc.and_(pc.is_inf(numbers), pc.invert(pc.match_substring_regex(values, "inf", ignore_case=True)))
    ok = pc.and_(ok, pc.invert(pc.fill_null(overflow, False)))
    return pc.cast(keep_where(numbers, ok), pa.string()), failed_mask(values, ok)


# Fast paths: one strict Arrow cast handles clean data; anything it refuses goes the slow, forgiving way.
# Both must give the same canonical text, or the same value would hash differently.


def standardize_integer(values: pa.Array, bits: int = 64) -> Standardized:
    """Integers of `bits` bits (at most 64)."""
    try:
        numbers = pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _integer_slow(values, bits)
    low, high = int_range(bits)
    extremes = pc.min_max(numbers).as_py()
    if extremes["min"] is not None and (extremes["min"] < low or extremes["max"] > high):
        return _integer_slow(values, bits)
    return pc.cast(numbers, pa.string()), no_failures(values)


def standardize_float(values: pa.Array) -> Standardized:
    try:
        numbers = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _float_slow(values)
    if pc.any(pc.or_(pc.is_inf(numbers), pc.is_nan(numbers))).as_py():
        return _float_slow(values)  # "inf" is fine, "1e400" is not: the slow path tells them apart
    return pc.cast(numbers, pa.string()), no_failures(values)


def _as_usually_written(words: list[str]) -> pa.Array:
    return pa.array([spelling for word in words for spelling in (word, word.capitalize(), word.upper())])


_USUAL_TRUE, _USUAL_FALSE = _as_usually_written(TRUE_WORDS), _as_usually_written(FALSE_WORDS)


def standardize_boolean(values: pa.Array) -> Standardized:
    """Booleans as `t`/`f`, from text (TRUE_WORDS, FALSE_WORDS) or from an Arrow boolean column."""
    if values.type == pa.bool_():
        return pc.if_else(values, "t", "f"), no_failures(values)
    usual = _usual_booleans(values)
    return usual if usual is not None else _boolean_slow(values)


def _boolean_slow(values: pa.Array) -> Standardized:
    """Booleans in any case, with spaces around: the fast path's fallback."""
    values = clean_text(values)
    lowered = pc.utf8_lower(values)
    is_true = pc.is_in(lowered, value_set=pa.array(TRUE_WORDS))
    is_false = pc.is_in(lowered, value_set=pa.array(FALSE_WORDS))
    ok = pc.or_(is_true, is_false)
    canonical = pc.if_else(is_true, "t", pc.if_else(is_false, "f", pa.nulls(len(values), pa.string())))
    return canonical, failed_mask(values, ok)


def _usual_booleans(values: pa.Array) -> Standardized | None:
    """Booleans when every value is one of the words as usually written (`true`, `False`, `1`, `NO`): found as
    they are, without trimming and lower-casing every value. None when one is written otherwise."""
    is_true = pc.is_in(values, value_set=_USUAL_TRUE)
    is_false = pc.is_in(values, value_set=_USUAL_FALSE)
    found = pc.sum(pc.or_(is_true, is_false)).as_py() or 0  # the sum of no values is None, not 0
    if found != len(values) - values.null_count:
        return None
    return pc.if_else(pc.if_else(pc.is_valid(values), is_true, None), "t", "f"), no_failures(values)


def standardize_string(values: pa.Array) -> Standardized:
    """Text as it is, but whitespace-only text is NULL (as every empty value); a NUL character fails (PostgreSQL
    text cannot hold it)."""
    if values.type != pa.string() or not starts_printable(values):  # else no value can be blank
        blank = pc.fill_null(pc.or_(pc.utf8_is_space(values), pc.equal(values, "")), False)
        if pc.any(blank).as_py():
            values = pc.if_else(blank, pa.nulls(len(values), pa.string()), values)
    if values.type == pa.string() and b"\x00" not in value_bytes(values):
        return values, no_failures(values)
    return values, pc.fill_null(pc.match_substring(values, "\x00"), False)
