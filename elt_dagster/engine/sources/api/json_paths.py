"""Reading values out of a JSON response by dotted path (`data.items`, `pages.0.next`)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ApiError, excerpt

MISSING = object()
"""What `lookup` returns when the path is not in the data (a null value is None)."""


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING."""
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def scalar_text(value: Any) -> str | None:
    """A cursor or next URL as text; None for missing, null, empty or false values and for objects or lists."""
    if value is MISSING or value is None or value is False or value == "" or isinstance(value, (dict, list)):
        return None
    return str(value)


def as_number(text: str) -> Decimal | None:
    """`text` as a finite number, else None."""
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def whole_number_at(data: Any, path: str, key: str, shown_url: str) -> int | None:
    """The whole number at `path` (rounded up); None when it's missing (some APIs send totals on the first page
    only); an ApiError naming the YAML `key` when it is there but not a number."""
    value = lookup(data, path)
    if value is MISSING or value is None:
        return None
    number = as_number(str(value)) if not isinstance(value, bool) else None
    if number is None:
        raise ApiError(f"{key} {path!r} in the response from {shown_url} is {excerpt(repr(value))}, not a number")
    return math.ceil(number)


def json_kind(value: Any) -> str:
    """'an object', 'a list', 'a string', ...: what a JSON value is, for messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


def describe_top(data: Any) -> str:
    """The top-level keys of a response (at most 20), for a message saying where records could be."""
    if isinstance(data, dict):
        keys = list(data)
        return f"top-level keys: {keys[:20] + (['…'] if len(keys) > 20 else [])}"
    return f"the response is {json_kind(data)}"
