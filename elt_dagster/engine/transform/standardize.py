"""Vectorised type standardisation: string column in, canonical text column and a failure mask out.

The canonical text is what PostgreSQL receives through COPY and what the row hash is computed from, so
"42", " 42 " and "42.0" in an integer column are the same value and the same hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Standardized = tuple[pa.Array, pa.Array]
"""(canonical values, failed mask): failed is true where a non-empty value could not be converted."""

TRUE_WORDS = ["true", "t", "yes", "y", "1", "on"]
FALSE_WORDS = ["false", "f", "no", "n", "0", "off"]
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%m/%d/%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%B %d %Y",
]
TIME_SUFFIXES = [" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p"]
_INTEGER = r"^[+-]?\d+(\.0*)?$"
_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_FLOAT = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$"
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
_ZONE_SUFFIX = r"(Z|[+-]\d{2}(:?\d{2})?)$"
INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


def _failed(values: pa.Array, ok: pa.Array) -> pa.Array:
    return pc.and_(pc.is_valid(values), pc.invert(pc.fill_null(ok, False)))


def _keep(values: pa.Array, ok: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(ok, False), values, pa.nulls(len(values), values.type))


def _clean(values: pa.Array) -> pa.Array:
    stripped = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(stripped, ""), pa.nulls(len(values), pa.string()), stripped)


def _integer_slow(values: pa.Array, type_name: str) -> Standardized:
    low, high = INT_RANGES.get(type_name, INT_RANGES["bigint"])
    values = _clean(values)
    ok = pc.match_substring_regex(values, _INTEGER)
    digits = pc.replace_substring_regex(pc.replace_substring_regex(_keep(values, ok), r"\.0*$", ""), r"^\+", "")
    fits = pc.less_equal(pc.utf8_length(pc.replace_substring_regex(digits, r"^-?0*", "")), 18)
    numbers = pc.cast(_keep(digits, fits), pa.int64())
    in_range = pc.and_(pc.greater_equal(numbers, low), pc.less_equal(numbers, high))
    ok = pc.fill_null(in_range, False)
    canonical = pc.cast(_keep(numbers, ok), pa.string())
    if type_name == "bigint":  # 19-digit values near the int64 limits: few, checked one by one
        long_values = pc.and_(pc.is_valid(digits), pc.invert(pc.fill_null(fits, False)))
        if pc.any(long_values).as_py():
            canonical, ok = _exact_bigints(digits, long_values, canonical, ok)
    return canonical, _failed(values, ok)


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
    values = _clean(values)
    ok = pc.match_substring_regex(values, _FLOAT, ignore_case=True)
    numbers = pc.cast(_keep(values, ok), pa.float64())
    # "1e400" parses as infinity; PostgreSQL rejects it as out of range, so do we (a spelled-out "inf" is fine)
    overflow = pc.and_(pc.is_inf(numbers), pc.invert(pc.match_substring_regex(values, "inf", ignore_case=True)))
    ok = pc.and_(ok, pc.invert(pc.fill_null(overflow, False)))
    return pc.cast(_keep(numbers, ok), pa.string()), _failed(values, ok)


def _decimal_slow(values: pa.Array) -> Standardized:
    values = _clean(values)
    ok = pc.match_substring_regex(values, _DECIMAL)
    text = pc.replace_substring_regex(_keep(values, ok), r"^\+", "")
    text = pc.replace_substring_regex(text, r"^(-?)0+(\d)", r"\1\2")
    text = pc.replace_substring_regex(text, r"^(-?)\.", r"\10.")
    has_point = pc.and_(pc.match_substring(text, "."), pc.invert(pc.match_substring_regex(text, "[eE]")))
    trimmed = pc.replace_substring_regex(pc.replace_substring_regex(text, r"0+$", ""), r"\.$", "")
    text = pc.if_else(has_point, trimmed, text)
    text = pc.if_else(pc.equal(text, "-0"), "0", text)
    exponent = pc.fill_null(pc.match_substring_regex(text, "[eE]"), False)
    if pc.any(exponent).as_py():  # 1e5 and 100000 are one value: written out, so they hash alike
        text = pc.replace_with_mask(
            text, exponent, pa.array([_plain_decimal(v) for v in pc.filter(text, exponent).to_pylist()])
        )
    return text, _failed(values, ok)


def _plain_decimal(text: str) -> str:
    """`1.50e3` -> `1500`, `-2E-2` -> `-0.02`: fixed-point, no trailing zeros."""
    plain = format(Decimal(text).normalize(), "f")
    return "0" if plain in ("-0", "0") else plain


# Fast paths: one strict Arrow cast handles clean data; anything it refuses goes the slow, forgiving way.
# Both must give the same canonical text, or the same value would hash differently.
_CANONICAL_DECIMAL = r"^(0|-?[1-9]\d*|-?(0|[1-9]\d*)\.\d*[1-9])$"


def _no_failures(values: pa.Array) -> pa.Array:
    return pa.array(np.zeros(len(values), dtype=bool))


def _text(values: pa.Array) -> pa.Array:
    return pc.replace_substring(pc.cast(values, pa.string()), ".000000", "")


def standardize_integer(values: pa.Array, type_name: str = "bigint") -> Standardized:
    try:
        numbers = pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _integer_slow(values, type_name)
    low, high = INT_RANGES.get(type_name, INT_RANGES["bigint"])
    extremes = pc.min_max(numbers).as_py()
    if extremes["min"] is not None and (extremes["min"] < low or extremes["max"] > high):
        return _integer_slow(values, type_name)
    return pc.cast(numbers, pa.string()), _no_failures(values)


def standardize_float(values: pa.Array) -> Standardized:
    try:
        numbers = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _float_slow(values)
    if pc.any(pc.or_(pc.is_inf(numbers), pc.is_nan(numbers))).as_py():
        return _float_slow(values)  # "inf" is fine, "1e400" is not: the slow path tells them apart
    return pc.cast(numbers, pa.string()), _no_failures(values)


def standardize_decimal(values: pa.Array) -> Standardized:
    """Values already in canonical form pass as they are; only the others are normalised."""
    canonical = pc.fill_null(pc.match_substring_regex(values, _CANONICAL_DECIMAL), True)
    todo = pc.invert(canonical)
    if not pc.any(todo).as_py():
        return values, _no_failures(values)
    text, failed = _decimal_slow(pc.filter(values, todo))
    return pc.replace_with_mask(values, todo, text), pc.replace_with_mask(_no_failures(values), todo, failed)


def standardize_timestamp(values: pa.Array, with_zone: bool = False) -> Standardized:
    try:
        parsed = pc.cast(values, pa.timestamp("us", "UTC") if with_zone else pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _timestamp_slow(values, with_zone)
    return _text(parsed), _no_failures(values)


def standardize_date(values: pa.Array) -> Standardized:
    try:
        parsed = pc.cast(values, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _date_slow(values)
    return pc.cast(parsed, pa.string()), _no_failures(values)


def standardize_boolean(values: pa.Array) -> Standardized:
    values = _clean(values)
    lowered = pc.utf8_lower(values)
    is_true = pc.is_in(lowered, value_set=pa.array(TRUE_WORDS))
    is_false = pc.is_in(lowered, value_set=pa.array(FALSE_WORDS))
    ok = pc.or_(is_true, is_false)
    canonical = pc.if_else(is_true, "t", pc.if_else(is_false, "f", pa.nulls(len(values), pa.string())))
    return canonical, _failed(values, ok)


def _loose(text: pa.Array) -> pa.Array:
    """Lower case, no leading zeros in numbers, single spaces: how a parsed value is compared to its input."""
    text = pc.replace_substring_regex(pc.utf8_lower(text), r"(^|\D)0+(\d)", r"\1\2")
    return pc.replace_substring_regex(text, r"\s+", " ")


def _parse_formats(values: pa.Array, formats: list[str], parsed: pa.Array) -> pa.Array:
    """Try each strptime format on the values still unparsed.

    strptime rolls impossible dates over (2024-02-30 -> 2024-03-01), so a parse only counts when
    formatting the result back gives the input again.
    """
    for fmt in formats:
        todo = pc.and_(pc.is_valid(values), pc.is_null(parsed))
        if not pc.any(todo).as_py():
            break
        candidates = _keep(values, todo)
        attempt = pc.strptime(candidates, format=fmt, unit="s", error_is_null=True)
        round_trip = pc.equal(_loose(pc.strftime(attempt, format=fmt)), _loose(candidates))
        parsed = pc.coalesce(parsed, pc.cast(_keep(attempt, round_trip), pa.timestamp("us")))
    return parsed


def _parse_iso(values: pa.Array, unit_type: pa.DataType) -> pa.Array:
    """ISO 8601 values cast in bulk; a batch with an impossible date (2024-02-30) falls back to one by one."""
    try:
        return pc.cast(values, unit_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for value in values.to_pylist():
            try:
                out.append(pc.cast(pa.array([value]), unit_type)[0].as_py() if value is not None else None)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, unit_type)


def _parse_timestamps(values: pa.Array) -> pa.Array:
    """Timestamps in UTC (tz-aware); values without a zone are taken as UTC."""
    values = _clean(values)
    # "10:00:00 +02:00" -> "10:00:00+02:00"; nanoseconds are cut to microseconds (PostgreSQL's precision)
    compact = pc.replace_substring_regex(values, r"\s+(Z|[+-]\d{2}(:?\d{2})?)$", r"\1")
    compact = pc.replace_substring_regex(compact, r"(\.\d{6})\d+", r"\1")
    iso = pc.fill_null(pc.match_substring_regex(compact, _ISO_TIMESTAMP), False)
    zoned = pc.and_(iso, pc.fill_null(pc.match_substring_regex(compact, _ZONE_SUFFIX), False))
    # A bare date like 2024-01-31 ends in "-31", which looks like a zone: only a value with a time has one.
    zoned = pc.and_(zoned, pc.match_substring_regex(compact, r"[T ]\d{2}"))
    naive = pc.and_(iso, pc.invert(zoned))
    utc = pa.timestamp("us", "UTC")
    parsed = pc.coalesce(
        _parse_iso(_keep(pc.replace_substring(compact, " ", "T", max_replacements=1), zoned), utc),
        pc.cast(_parse_iso(_keep(compact, naive), pa.timestamp("us")), utc),
    )
    formats = [d + t for d in DATE_FORMATS for t in TIME_SUFFIXES] + DATE_FORMATS
    parsed = _parse_formats(values, formats, pc.cast(parsed, pa.timestamp("us")))
    return values, pc.cast(parsed, utc)


def _timestamp_slow(values: pa.Array, with_zone: bool) -> Standardized:
    values, parsed = _parse_timestamps(values)
    as_text = pc.cast(parsed if with_zone else pc.cast(parsed, pa.timestamp("us")), pa.string())
    # "10:00:00.000000" -> "10:00:00": shorter text is measurably faster for PostgreSQL to parse in COPY
    as_text = pc.replace_substring(as_text, ".000000", "")
    return as_text, _failed(values, pc.is_valid(parsed))


def _date_slow(values: pa.Array) -> Standardized:
    values = _clean(values)
    parsed = _parse_formats(values, DATE_FORMATS, pa.nulls(len(values), pa.timestamp("us")))
    return pc.cast(pc.cast(parsed, pa.date32()), pa.string()), _failed(values, pc.is_valid(parsed))


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def standardize_json(values: pa.Array) -> Standardized:
    texts, oks = [], []
    for value in values.to_pylist():
        if value is None or not value.strip():
            texts.append(None)
            oks.append(True)
            continue
        try:
            parsed = json.loads(value, parse_constant=_no_constants)  # PostgreSQL's jsonb has no NaN/Infinity
            text = json.dumps(parsed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            if "\x00" in text or "\\u0000" in text:
                raise ValueError("jsonb cannot hold a NUL character")
            texts.append(text)
            oks.append(True)
        except ValueError:
            texts.append(None)
            oks.append(False)
    return pa.array(texts, pa.string()), pc.invert(pa.array(oks, pa.bool_()))


def standardize_string(values: pa.Array) -> Standardized:
    """Text as it is; only a NUL character fails (PostgreSQL text cannot hold it)."""
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
