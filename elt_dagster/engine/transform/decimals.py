"""Decimals as canonical text (written out, no `+`, no leading or trailing zeros), within PostgreSQL's `numeric`
range: a value beyond it fails (and is quarantined) rather than failing the whole load."""

from __future__ import annotations

from collections.abc import Callable
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.transform.arrays import Standardized, clean_text, failed_mask, keep_where, no_failures
from elt_dagster.engine.transform.patterns import DECIMAL_TEXT, MAX_DIGITS_AFTER_POINT, MAX_DIGITS_BEFORE_POINT

_SURELY_IN_RANGE = MAX_DIGITS_AFTER_POINT + 2
"""Canonical text this long or shorter can't break either limit (`0.` and 16,383 digits is the longest fraction)."""

_CANONICAL_DECIMAL = r"^(0|-?[1-9]\d*|-?(0|[1-9]\d*)\.\d*[1-9])$"
_TRAILING_ZEROS = r"^(-?(?:0|[1-9]\d*))(?:\.0+|(\.\d*[1-9])0+)$"
"""A decimal that is canonical but for zeros after the point (`12.50`, `3.0`): its canonical part, `\1\2`."""
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Arithmetic that never rounds: the default context's 28 digits would change a longer value."""


def standardize_decimal(values: pa.Array) -> Standardized:
    """Values already in canonical form pass as they are; only the others are normalised. An Arrow decimal column
    (transform/typed.py) is written out by Arrow, then its zeros after the point dropped."""
    if pa.types.is_decimal(values.type):
        return _typed_decimal(values)
    return _canonical_or(values, _decimal_not_canonical)


def _typed_decimal(values: pa.Array) -> Standardized:
    """Arrow writes a decimal of scale s > 0 with a point and exactly s digits after it (`3.00`, `-0.50`): trailing
    zeros, then a bare point, are all that is not canonical (a zero is `0.00`, never `-0.00`). But below 1e-6 it
    writes an exponent (`1E-10`), possible from scale 7: those columns are made canonical as text. Within numeric's
    range: Arrow's decimals have at most 76 digits."""
    text = pc.cast(values, pa.string())
    if values.type.scale > 6 and pc.any(pc.match_substring(text, "E")).as_py():
        return _canonical_or(text, _decimal_not_canonical)
    if values.type.scale > 0:
        text = pc.utf8_rtrim(pc.utf8_rtrim(text, characters="0"), characters=".")
    return text, no_failures(values)


def _decimal_not_canonical(values: pa.Array) -> Standardized:
    """Most only have zeros to drop after the point (`12.50`); the rest go the slow, forgiving way, which gives
    the same text for a value with or without those zeros."""
    return _canonical_or(pc.replace_substring_regex(values, _TRAILING_ZEROS, r"\1\2"), decimal_slow)


def _canonical_or(values: pa.Array, normalise: Callable[[pa.Array], Standardized]) -> Standardized:
    """`values` that are canonical decimal text of a length surely in range as they are; the others `normalise`d."""
    todo = pc.invert(pc.fill_null(pc.match_substring_regex(values, _CANONICAL_DECIMAL), True))
    if _longest(values) > _SURELY_IN_RANGE:
        todo = pc.or_(todo, pc.fill_null(pc.greater(pc.binary_length(values), _SURELY_IN_RANGE), False))
    if not pc.any(todo).as_py():
        return values, no_failures(values)
    text, failed = normalise(pc.filter(values, todo))
    return pc.replace_with_mask(values, todo, text), pc.replace_with_mask(no_failures(values), todo, failed)


def _longest(values: pa.Array) -> int:
    return pc.max(pc.binary_length(values)).as_py() or 0


def decimal_slow(values: pa.Array) -> Standardized:
    """Decimals in any accepted spelling (`+.50`, `1.5e3`), checked against the `numeric` range."""
    values = clean_text(values)
    ok = pc.match_substring_regex(values, DECIMAL_TEXT)
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
    text = _within_range(text)
    return text, failed_mask(values, pc.and_(ok, pc.is_valid(text)))


def _within_range(text: pa.Array) -> pa.Array:
    """Canonical decimals, NULL where one has more than MAX_DIGITS_BEFORE_POINT digits before its point or
    MAX_DIGITS_AFTER_POINT after it."""
    if _longest(text) <= _SURELY_IN_RANGE:
        return text
    lengths = pc.binary_length(text)
    point = pc.find_substring(text, ".")
    no_point = pc.less(point, 0)
    sign = pc.cast(pc.starts_with(text, "-"), pa.int32())
    before = pc.subtract(pc.if_else(no_point, lengths, point), sign)
    after = pc.if_else(no_point, 0, pc.subtract(pc.subtract(lengths, point), 1))
    fits = pc.and_(pc.less_equal(before, MAX_DIGITS_BEFORE_POINT), pc.less_equal(after, MAX_DIGITS_AFTER_POINT))
    return keep_where(text, fits)


def _plain_decimal(text: str) -> str | None:
    """`1.50e3` -> `1500`, `-2E-2` -> `-0.02`: fixed-point, no trailing zeros, every digit kept; None beyond the
    `numeric` range (`1e100000000`), checked before anything is written out."""
    try:
        number = Decimal(text)
        if number.is_zero():
            return "0"
        if number.adjusted() >= MAX_DIGITS_BEFORE_POINT:
            return None
        number = _EXACT.normalize(number)
    except ArithmeticError:  # an exponent beyond what Python's decimal holds (1e9999999999999999999)
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DIGITS_AFTER_POINT:
        return None
    return format(number, "f")


def json_number(text: str) -> Decimal:
    """A JSON number as a Decimal with every digit; ValueError when PostgreSQL's jsonb (whose numbers are
    `numeric`) can't store it as written."""
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{text[:20]} is beyond the range of a stored number") from None
    exponent = number.as_tuple().exponent
    too_small = isinstance(exponent, int) and exponent < -MAX_DIGITS_AFTER_POINT
    if too_small or (not number.is_zero() and number.adjusted() >= MAX_DIGITS_BEFORE_POINT):
        raise ValueError(f"{text[:20]} is beyond the range of a stored number")
    return number


def json_integer(text: str) -> int | Decimal:
    """A JSON integer: an int as usual; a Decimal beyond the digits Python converts to int (4,300)."""
    return int(text) if len(text) < 4_000 else json_number(text)
