"""Vectorised type standardisation: string column in, canonical text column and a failure mask out.

The canonical text is what PostgreSQL receives through COPY and what the row hash is computed from, so
"42", " 42 " and "42.0" in an integer column are the same value and the same hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.json_text import json_text
from elt_dagster.engine.transform.arrays import (
    Standardized,
    clean_text,
    failed_mask,
    keep_where,
    no_failures,
    starts_printable,
    value_bytes,
)
from elt_dagster.engine.transform.temporal import standardize_date, standardize_timestamp

TRUE_WORDS = ["true", "t", "yes", "y", "1", "on"]
FALSE_WORDS = ["false", "f", "no", "n", "0", "off"]
_INTEGER = r"^[+-]?\d+(\.0*)?$"
_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_FLOAT = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$"
INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


def _integer_slow(values: pa.Array, type_name: str) -> Standardized:
    low, high = INT_RANGES.get(type_name, INT_RANGES["bigint"])
    values = clean_text(values)
    ok = pc.match_substring_regex(values, _INTEGER)
    digits = pc.replace_substring_regex(pc.replace_substring_regex(keep_where(values, ok), r"\.0*$", ""), r"^\+", "")
    fits = pc.less_equal(pc.utf8_length(pc.replace_substring_regex(digits, r"^-?0*", "")), 18)
    numbers = pc.cast(keep_where(digits, fits), pa.int64())
    in_range = pc.and_(pc.greater_equal(numbers, low), pc.less_equal(numbers, high))
    ok = pc.fill_null(in_range, False)
    canonical = pc.cast(keep_where(numbers, ok), pa.string())
    if type_name == "bigint":  # 19-digit values near the int64 limits: few, checked one by one
        long_values = pc.and_(pc.is_valid(digits), pc.invert(pc.fill_null(fits, False)))
        if pc.any(long_values).as_py():
            canonical, ok = _exact_bigints(digits, long_values, canonical, ok)
    return canonical, failed_mask(values, ok)


def _exact_bigints(
    digits: pa.Array, long_values: pa.Array, canonical: pa.Array, ok: pa.Array
) -> tuple[pa.Array, pa.Array]:
    low, high = INT_RANGES["bigint"]
    texts, oks = canonical.to_pylist(), ok.to_pylist()
    for index, (text, is_long) in enumerate(zip(digits.to_pylist(), long_values.to_pylist(), strict=True)):
        if is_long:
            number = int(text)
            if low <= number <= high:
                texts[index], oks[index] = str(number), True
    return pa.array(texts, pa.string()), pa.array(oks, pa.bool_())


def _float_slow(values: pa.Array) -> Standardized:
    values = clean_text(values)
    ok = pc.match_substring_regex(values, _FLOAT, ignore_case=True)
    numbers = pc.cast(keep_where(values, ok), pa.float64())
    # "1e400" parses as infinity; PostgreSQL rejects it as out of range, so do we (a spelled-out "inf" is fine)
    overflow = pc.and_(pc.is_inf(numbers), pc.invert(pc.match_substring_regex(values, "inf", ignore_case=True)))
    ok = pc.and_(ok, pc.invert(pc.fill_null(overflow, False)))
    return pc.cast(keep_where(numbers, ok), pa.string()), failed_mask(values, ok)


def _decimal_slow(values: pa.Array) -> Standardized:
    values = clean_text(values)
    ok = pc.match_substring_regex(values, _DECIMAL)
    text = pc.replace_substring_regex(keep_where(values, ok), r"^\+", "")
    text = pc.replace_substring_regex(text, r"^(-?)0+(\d)", r"\1\2")
    text = pc.replace_substring_regex(text, r"^(-?)\.", r"\10.")
    has_point = pc.and_(pc.match_substring(text, "."), pc.invert(pc.match_substring_regex(text, "[eE]")))
    trimmed = pc.replace_substring_regex(pc.replace_substring_regex(text, r"0+$", ""), r"\.$", "")
    text = pc.if_else(has_point, trimmed, text)
    text = pc.if_else(pc.equal(text, "-0"), "0", text)
    exponent = pc.fill_null(pc.match_substring_regex(text, "[eE]"), False)
    if pc.any(exponent).as_py():  # 1e5 and 100000 are one value: written out, so they hash alike
        text = pc.replace_with_mask(
            text, exponent, pa.array([_plain_decimal(v) for v in pc.filter(text, exponent).to_pylist()], pa.string())
        )
    return text, failed_mask(values, pc.and_(ok, pc.is_valid(text)))


def _plain_decimal(text: str) -> str | None:
    """`1.50e3` -> `1500`, `-2E-2` -> `-0.02`: fixed-point, no trailing zeros; None beyond PostgreSQL's numeric
    range (131,072 digits before the point, 16,383 after)."""
    try:
        number = Decimal(text).normalize()
    except InvalidOperation:
        return None
    exponent = number.as_tuple().exponent
    if number.adjusted() >= 131_072 or (isinstance(exponent, int) and exponent < -16_383):
        return None
    plain = format(number, "f")
    return "0" if plain in ("-0", "0") else plain


# Fast paths: one strict Arrow cast handles clean data; anything it refuses goes the slow, forgiving way.
# Both must give the same canonical text, or the same value would hash differently.
_CANONICAL_DECIMAL = r"^(0|-?[1-9]\d*|-?(0|[1-9]\d*)\.\d*[1-9])$"


def standardize_integer(values: pa.Array, type_name: str = "bigint") -> Standardized:
    try:
        numbers = pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _integer_slow(values, type_name)
    low, high = INT_RANGES.get(type_name, INT_RANGES["bigint"])
    extremes = pc.min_max(numbers).as_py()
    if extremes["min"] is not None and (extremes["min"] < low or extremes["max"] > high):
        return _integer_slow(values, type_name)
    return pc.cast(numbers, pa.string()), no_failures(values)


def standardize_float(values: pa.Array) -> Standardized:
    try:
        numbers = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _float_slow(values)
    if pc.any(pc.or_(pc.is_inf(numbers), pc.is_nan(numbers))).as_py():
        return _float_slow(values)  # "inf" is fine, "1e400" is not: the slow path tells them apart
    return pc.cast(numbers, pa.string()), no_failures(values)


_TRAILING_ZEROS = r"^(-?(?:0|[1-9]\d*))(?:\.0+|(\.\d*[1-9])0+)$"
"""A decimal that is canonical but for zeros after the point (`12.50`, `3.0`): its canonical part, `\1\2`."""


def standardize_decimal(values: pa.Array) -> Standardized:
    """Values already in canonical form pass as they are; only the others are normalised."""
    return _canonical_or(values, _decimal_not_canonical)


def _decimal_not_canonical(values: pa.Array) -> Standardized:
    """Most only have zeros to drop after the point (`12.50`); the rest go the slow, forgiving way, which gives
    the same text for a value with or without those zeros."""
    return _canonical_or(pc.replace_substring_regex(values, _TRAILING_ZEROS, r"\1\2"), _decimal_slow)


def _canonical_or(values: pa.Array, normalise: Callable[[pa.Array], Standardized]) -> Standardized:
    """`values` that are canonical decimal text as they are; the others `normalise`d."""
    todo = pc.invert(pc.fill_null(pc.match_substring_regex(values, _CANONICAL_DECIMAL), True))
    if not pc.any(todo).as_py():
        return values, no_failures(values)
    text, failed = normalise(pc.filter(values, todo))
    return pc.replace_with_mask(values, todo, text), pc.replace_with_mask(no_failures(values), todo, failed)


def _as_usually_written(words: list[str]) -> pa.Array:
    return pa.array([spelling for word in words for spelling in (word, word.capitalize(), word.upper())])


_USUAL_TRUE, _USUAL_FALSE = _as_usually_written(TRUE_WORDS), _as_usually_written(FALSE_WORDS)


def standardize_boolean(values: pa.Array) -> Standardized:
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
    if pc.sum(is_true).as_py() + pc.sum(is_false).as_py() != len(values) - values.null_count:
        return None
    return pc.if_else(pc.if_else(pc.is_valid(values), is_true, None), "t", "f"), no_failures(values)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def standardize_json(values: pa.Array) -> Standardized:
    """Valid JSON as compact text with sorted keys (so equal documents hash alike), every digit of its numbers
    kept; NaN/Infinity, NUL characters (jsonb has neither) and nesting deeper than MAX_DEPTH fail."""
    texts, oks = [], []
    for value in values.to_pylist():
        if value is None or not value.strip():
            texts.append(None)
            oks.append(True)
            continue
        try:
            text = json_text(json.loads(value, parse_float=Decimal, parse_constant=_no_constants), sort_keys=True)
            if "\x00" in text or "\\u0000" in text:
                raise ValueError("jsonb cannot hold a NUL character")
            texts.append(text)
            oks.append(True)
        except (ValueError, RecursionError):
            texts.append(None)
            oks.append(False)
    return pa.array(texts, pa.string()), pc.invert(pa.array(oks, pa.bool_()))


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


STANDARDIZERS: dict[str, Callable[[pa.Array], Standardized]] = {
    "integer": lambda v: standardize_integer(v, "integer"),
    "bigint": lambda v: standardize_integer(v, "bigint"),
    "float": standardize_float,
    "decimal": standardize_decimal,
    "boolean": standardize_boolean,
    "date": standardize_date,
    "timestamp": standardize_timestamp,
    "timestamptz": lambda v: standardize_timestamp(v, with_zone=True),
    "json": standardize_json,
    "string": standardize_string,
}

TYPE_DESCRIPTIONS = {
    "integer": "an integer (32-bit)",
    "bigint": "an integer (64-bit)",
    "float": "a number",
    "decimal": "a decimal number (with a dot)",
    "boolean": "a boolean (true/false, yes/no, 1/0)",
    "date": "a date",
    "timestamp": "a timestamp",
    "timestamptz": "a timestamp",
    "json": "valid JSON",
    "string": "text without NUL characters",
}
