"""JSON values as text that keeps every digit, with the limits a record must meet to be stored."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of objects and lists a record may have; a deeper record is quarantined."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadRecord(ValueError):
    """A JSON record that can't become a row; it is quarantined with this reason."""


def json_text(value: Any, depth: int = 1, *, sort_keys: bool = False) -> str:
    """`value` (parsed with numbers as Decimal) as compact JSON text, numbers with every digit they were written
    with; BadRecord for nesting deeper than MAX_DEPTH, NaN/Infinity, or text that isn't valid Unicode."""
    if depth > MAX_DEPTH:
        raise BadRecord(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        pairs = sorted(value.items()) if sort_keys else value.items()
        items = (
            f"{json.dumps(checked_text(k), ensure_ascii=False)}:{json_text(v, depth + 1, sort_keys=sort_keys)}"
            for k, v in pairs
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_text(item, depth + 1, sort_keys=sort_keys) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(checked_text(value), ensure_ascii=False)
    return "null" if value is None else scalar_text(value)


def scalar_text(value: Any) -> str:
    """A JSON scalar as text (`true`, `12.50` as written); BadRecord for NaN/Infinity or invalid Unicode."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return checked_text(value)
    if isinstance(value, Decimal) and not value.is_finite():
        raise BadRecord(f"{value} is not a number a database can store")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRecord(f"{value} is not a number a database can store")
    return str(value)


def checked_text(text: str) -> str:
    """`text`, or BadRecord when it holds a lone surrogate (not valid Unicode, PostgreSQL can't store it)."""
    if _LONE_SURROGATE.search(text):
        raise BadRecord("text that is not valid Unicode (a lone surrogate such as \\ud800)")
    return text
