"""Row rules (`not_null`, `min`, `max`, `allowed`, `pattern`) checked on a column's standardised values, vectorised.

A NULL passes every rule except `not_null`, as in SQL. Bounds are inclusive and compared on the typed value; a float
NaN is above every number, as in PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from elt_dagster.engine.types import TYPES

if TYPE_CHECKING:  # the config is read, never imported: config/ imports transform/ for rule values
    from elt_dagster.engine.config import ColumnRules


class Check(NamedTuple):
    """One check of a batch, as `validate` collects them: the rows it fails and why, as a reason's kind (`is below
    min 0`) apart from the value (`-5`), so that rejects can be counted by kind; `reject_reason` joins them."""

    failed: pa.Array
    kind: pa.Array | pa.Scalar
    column: str | None
    value: pa.Array | None = None
    """The failing values (None: the reason shows none, e.g. an empty key)."""
    quoted: bool = False
    """Whether the reason shows the value in quotes (text)."""


SHOWN_ALLOWED = 10
"""How many allowed values a reason lists."""
SHOWN_VALUE_CHARS = 80
"""Where a value in a reason (and a reject's `value`) is cut: the whole record is kept beside it."""


def reject_reason(column: str | None, kind: str, value: str | None = None, quoted: bool = False) -> str:
    """A reject's reason as people read it: `column 'amount': -5 is below min 0`, `column 'id': the primary key
    is empty`, or the kind alone for a whole record."""
    if column is None:
        return kind
    if value is None:
        return f"column {column!r}: {kind}"
    quote = "'" if quoted else ""
    return f"column {column!r}: {quote}{value[:SHOWN_VALUE_CHARS]}{quote} {kind}"


def standardize_one(text: str, type_name: str) -> tuple[str | None, bool]:
    """(canonical text, failed) of one value, as the data's values of `type_name` are standardised."""
    canonical, failed = TYPES[type_name].standardize(pa.array([text], pa.string()))
    return canonical[0].as_py(), bool(failed[0].as_py())


def order_key(text: str, type_name: str) -> Any:
    """A canonical value of an ordered type as a Python value that compares exactly."""
    column_type = TYPES[type_name]
    if column_type.exact_order:
        return Decimal(text)
    return pc.cast(pa.array([text], pa.string()), column_type.arrow_type())[0].as_py()


def regex_error(pattern: str) -> str | None:
    """Why RE2 (the engine `pattern` runs on) rejects `pattern`; None when it accepts it."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid as exc:
        return str(exc).removeprefix("Invalid regular expression: ")
    return None


def rule_checks(name: str, rules: ColumnRules, values: pa.Array) -> list[Check]:
    """A check for each rule of column `name` that some of `values` (its canonical text) break, in the order
    not_null, min, max, allowed, pattern."""
    type_name = rules.column_type
    column_type = TYPES[type_name]
    found: list[tuple[pa.Array, str]] = []
    if rules.not_null:
        found.append((pc.is_null(values), "is empty (not_null)"))
    if rules.min is not None or rules.max is not None:
        typed = pc.cast(values, column_type.arrow_type())
        if rules.min is not None:
            found.append((_beyond(typed, values, rules.min, type_name, above=False), f"is below min {rules.min}"))
        if rules.max is not None:
            found.append((_beyond(typed, values, rules.max, type_name, above=True), f"is above max {rules.max}"))
    if rules.allowed is not None:
        listed = pc.is_in(values, value_set=pa.array(rules.allowed, pa.string()))
        found.append((pc.invert(listed), f"is not one of {_listing(rules.allowed)}"))
    if rules.pattern is not None:
        matched = pc.match_substring_regex(values, rules.pattern)
        found.append((pc.invert(matched), f"does not match pattern {rules.pattern!r}"))
    checks: list[Check] = []
    present = pc.is_valid(values)
    for mask, what in found:
        empty = what.startswith("is empty")
        failed = pc.fill_null(mask if empty else pc.and_(present, mask), False)
        if pc.any(failed).as_py():
            shown = None if empty else values
            checks.append(Check(failed, pa.scalar(what), name, shown, column_type.is_text))
    return checks


def _beyond(typed: pa.Array, text: pa.Array, bound: str, type_name: str, above: bool) -> pa.Array:
    """True where a value is above (or below) `bound`; exact for decimals although they are compared as floats."""
    column_type = TYPES[type_name]
    limit = pc.cast(pa.array([bound], pa.string()), column_type.arrow_type())[0]
    beyond = pc.greater(typed, limit) if above else pc.less(typed, limit)
    if column_type.has_nan and above:
        beyond = pc.or_(beyond, pc.is_nan(typed))
    if not column_type.exact_order:
        return beyond
    # Rounding to float keeps the order, so only float-equal values with different (unique, canonical) text are
    # in doubt: values that differ beyond a float's 17 digits, or beyond its range. Those few are compared exactly.
    doubt = pc.fill_null(pc.and_(pc.equal(typed, limit), pc.not_equal(text, bound)), False)
    if not pc.any(doubt).as_py():
        return beyond
    exact = Decimal(bound)
    doubtful = pc.filter(text, doubt).to_pylist()
    decided = [(Decimal(v) > exact) if above else (Decimal(v) < exact) for v in doubtful]
    return pc.replace_with_mask(beyond, doubt, pa.array(decided, pa.bool_()))


def _listing(allowed: list[str]) -> str:
    shown = ", ".join(allowed[:SHOWN_ALLOWED])
    return shown if len(allowed) <= SHOWN_ALLOWED else f"{shown}, ... ({len(allowed)} values)"
