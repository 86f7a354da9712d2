"""Dates and timestamps: ISO 8601 cast in bulk, the other accepted spellings parsed format by format.

An impossible date (2024-02-30) is rejected, never rolled over.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.transform.arrays import Standardized, as_text, clean_text, failed_mask, keep_where, no_failures

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
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
_ZONE_SUFFIX = r"(Z|[+-]\d{2}(:?\d{2})?)$"


def standardize_timestamp(values: pa.Array, with_zone: bool = False) -> Standardized:
    """Timestamps as canonical text (`with_zone`: the instant in UTC)."""
    try:
        parsed = pc.cast(values, pa.timestamp("us", "UTC") if with_zone else pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _within_years(*timestamp_slow(values, with_zone))
    if _all_within(parsed, _YEAR_ONE_MICROS, _YEAR_10000_MICROS, pa.int64()):
        return as_text(parsed), no_failures(values)
    return _within_years(as_text(parsed), no_failures(values))


def standardize_date(values: pa.Array) -> Standardized:
    """Dates as `YYYY-MM-DD`."""
    try:
        parsed = pc.cast(values, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _within_years(*date_slow(values))
    if _all_within(parsed, _YEAR_ONE_DAYS, _YEAR_10000_DAYS, pa.int32()):
        return pc.cast(parsed, pa.string()), no_failures(values)
    return _within_years(pc.cast(parsed, pa.string()), no_failures(values))


_YEAR_ONE_MICROS = -62_135_596_800_000_000
"""0001-01-01 00:00:00 in microseconds since 1970."""
_YEAR_10000_MICROS = 253_402_300_800_000_000
"""10000-01-01 00:00:00 in microseconds since 1970: a zone offset can carry 9999-12-31 there."""
_YEAR_ONE_DAYS = -719_162
"""0001-01-01 in days since 1970."""
_YEAR_10000_DAYS = 2_932_897
"""10000-01-01 in days since 1970."""


def _all_within(parsed: pa.Array, first: int, end: int, as_type: pa.DataType) -> bool:
    """Whether every parsed value is in [`first`, `end`) (in `as_type` units): then `_within_years`'s regex has
    nothing to find."""
    extremes = pc.min_max(pc.cast(parsed, as_type)).as_py()
    return extremes["min"] is None or (extremes["min"] >= first and extremes["max"] < end)


def _within_years(text: pa.Array, failed: pa.Array) -> Standardized:
    """Years 1 to 9999 only. PostgreSQL has no year 0, BC dates are not an input format here, and a year past 9999
    (`9999-12-31T23:00:00-05:00` in UTC) is one Arrow, and so a `min`/`max` rule, can't read back."""
    outside = pc.fill_null(pc.match_substring_regex(text, r"^(0000|-|\d{5})"), False)
    if not pc.any(outside).as_py():
        return text, failed
    return pc.if_else(outside, pa.nulls(len(text), pa.string()), text), pc.or_(failed, outside)


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
        candidates = keep_where(values, todo)
        attempt = pc.strptime(candidates, format=fmt, unit="s", error_is_null=True)
        round_trip = pc.equal(_loose(pc.strftime(attempt, format=fmt)), _loose(candidates))
        parsed = pc.coalesce(parsed, pc.cast(keep_where(attempt, round_trip), pa.timestamp("us")))
    return parsed


def _parse_iso(values: pa.Array, unit_type: pa.DataType) -> pa.Array:
    """ISO 8601 values cast in bulk; a batch with an impossible date (2024-02-30) is cast in halves, down to the
    values that fail alone, which become NULL."""
    try:
        return pc.cast(values, unit_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, unit_type)
        half = len(values) // 2
        return pa.concat_arrays([_parse_iso(values[:half], unit_type), _parse_iso(values[half:], unit_type)])


def _parse_timestamps(values: pa.Array) -> pa.Array:
    """Timestamps in UTC (tz-aware); values without a zone are taken as UTC."""
    values = clean_text(values)
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
        _parse_iso(keep_where(pc.replace_substring(compact, " ", "T", max_replacements=1), zoned), utc),
        pc.cast(_parse_iso(keep_where(compact, naive), pa.timestamp("us")), utc),
    )
    formats = [d + t for d in DATE_FORMATS for t in TIME_SUFFIXES] + DATE_FORMATS
    parsed = _parse_formats(values, formats, pc.cast(parsed, pa.timestamp("us")))
    return values, pc.cast(parsed, utc)


def timestamp_slow(values: pa.Array, with_zone: bool) -> Standardized:
    """Timestamps value by value in every accepted spelling (the fast path's fallback)."""
    values, parsed = _parse_timestamps(values)
    as_text = pc.cast(parsed if with_zone else pc.cast(parsed, pa.timestamp("us")), pa.string())
    # "10:00:00.000000" -> "10:00:00": shorter text is measurably faster for PostgreSQL to parse in COPY
    as_text = pc.replace_substring(as_text, ".000000", "")
    return as_text, failed_mask(values, pc.is_valid(parsed))


def date_slow(values: pa.Array) -> Standardized:
    """Dates in every accepted spelling (the fast path's fallback)."""
    values = clean_text(values)
    parsed = _parse_formats(values, DATE_FORMATS, pa.nulls(len(values), pa.timestamp("us")))
    return pc.cast(pc.cast(parsed, pa.date32()), pa.string()), failed_mask(values, pc.is_valid(parsed))


def standardize_with_format(
    values: pa.Array, arrow_type: pa.DataType, fmt: str, usual: Callable[[pa.Array], Standardized]
) -> Standardized:
    """Dates or timestamps (of `arrow_type`, the column type's) written in `fmt` (a column's `format`: strptime
    directives, to the second); a value that does not match it is read by the `usual` spellings. `31/01/2024` with
    `%d/%m/%Y` is January 31."""
    parsed = _parse_formats(clean_text(values), [fmt], pa.nulls(len(values), pa.timestamp("us")))
    text, failed = usual(values)
    matched = pc.is_valid(parsed)
    if not pc.any(matched).as_py():
        return text, failed
    if pa.types.is_date(arrow_type):
        own = pc.cast(pc.cast(parsed, arrow_type), pa.string())
    else:  # without a zone in the text, a timestamptz is taken as UTC, as the usual spellings are
        own = as_text(pc.cast(parsed, arrow_type))
    return _within_years(pc.if_else(matched, own, text), pc.and_(failed, pc.invert(matched)))
