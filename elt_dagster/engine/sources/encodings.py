"""The text encoding a file source names (`encoding:`), checked when the YAML is read (standard library only)."""

from __future__ import annotations

import codecs


def known_encoding(value: str) -> str:
    """`value` if Python knows the encoding; a ValueError with examples otherwise (for a pydantic validator)."""
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, latin-1, cp1252)") from None
    return value
