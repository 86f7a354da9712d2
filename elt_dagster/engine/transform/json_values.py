"""JSON values as canonical text: compact, keys sorted, every digit of their numbers kept, and only what
PostgreSQL's jsonb can store."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.json_text import json_text
from elt_dagster.engine.transform.arrays import Standardized
from elt_dagster.engine.transform.decimals import json_integer, json_number

_LONGEST_INT = 4_300
"""The most digits Python's int() reads (a longer integer is parsed with the checked hooks)."""
_MAYBE_BEYOND = r"\d[eE][+-]?\d"
"""Canonical JSON with a number beyond jsonb's range holds an exponent (`1E+100000000`), or is long."""
_LONG = 16_000
"""Longer canonical JSON may write out a number beyond jsonb's range without an exponent."""


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_loads = partial(json.loads, parse_float=Decimal, parse_constant=_no_constants)
_checked_loads = partial(json.loads, parse_float=json_number, parse_int=json_integer, parse_constant=_no_constants)


def _canonical_json(value: str, checked: bool = False) -> str | None:
    """`value` as canonical JSON text; None when it is not valid JSON or jsonb can't store it. `checked`: each
    number read by the hooks that refuse what jsonb can't store (a few microseconds a document more)."""
    try:
        text = json_text((_checked_loads if checked else _loads)(value), sort_keys=True)
    except (ValueError, ArithmeticError, RecursionError):  # ArithmeticError: Decimal('1e9999999999999999999')
        return None if checked or len(value) <= _LONGEST_INT else _canonical_json(value, checked=True)
    return None if "\x00" in text or "\\u0000" in text else text


def standardize_json(values: pa.Array) -> Standardized:
    """Valid JSON as compact text with sorted keys (so equal documents hash alike), every digit of its numbers
    kept; NaN/Infinity, NUL characters (jsonb has neither), numbers beyond jsonb's range and nesting deeper than
    MAX_DEPTH fail."""
    texts, failed = [], []
    for value in values.to_pylist():
        present = value is not None and bool(value.strip())
        texts.append(_canonical_json(value) if present else None)
        failed.append(present and texts[-1] is None)
    text, failures = pa.array(texts, pa.string()), pa.array(failed, pa.bool_())
    doubtful = pc.or_(pc.match_substring_regex(text, _MAYBE_BEYOND), pc.greater(pc.binary_length(text), _LONG))
    doubtful = pc.fill_null(doubtful, False)
    if pc.any(doubtful).as_py():  # rare: those few parsed again, each number checked
        again = pa.array([_canonical_json(v, checked=True) for v in pc.filter(values, doubtful).to_pylist()])
        text = pc.replace_with_mask(text, doubtful, again.cast(pa.string()))
        failures = pc.or_(failures, pc.and_(doubtful, pc.is_null(text)))
    return text, failures
