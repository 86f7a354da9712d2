"""Numbers as exports write them: a number column's `thousands`, `decimal_mark`, `currency` and `trailing_minus`
turn `$1,063.00`, `1.063,00 €` or `12.50-` into the plain text the number types read (`1063.00`, `-12.50`).

Vectorised, on the fast path, before the column type's own reader. A value written otherwise than declared is not
guessed at: thousands separators out of their groups of three (`1,06,3`), or a `.` in a column whose decimal mark is
`,`, are refused (the record is quarantined with its value), never read as some other number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class NumberFormat:
    """How one column's numbers are written (see the module docstring); the defaults are the plain spelling."""

    thousands: str | None = None
    decimal_mark: str = "."
    currency: str | None = None
    trailing_minus: bool = False

    @property
    def grouped(self) -> str:
        """RE2 pattern of a number whose thousands separators are all in place: `1,063` and `1,063,000.5`."""
        mark = re.escape(self.decimal_mark)
        return rf"^[+-]?[0-9]{{1,3}}(?:{re.escape(self.thousands or '')}[0-9]{{3}})+(?:{mark}[0-9]*)?$"


def plain_numbers(values: pa.Array, number_format: NumberFormat) -> tuple[pa.Array, pa.Array]:
    """`values` (text) rewritten as the number types read them, and a mask of the values refused because they are
    not written as declared (NULLs are never refused)."""
    text = pc.utf8_trim_whitespace(values)
    refused = pa.array(np.zeros(len(values), dtype=bool))
    if number_format.currency:
        text = pc.utf8_trim_whitespace(pc.replace_substring(text, number_format.currency, ""))
    if number_format.trailing_minus:
        negative = pc.fill_null(pc.ends_with(text, "-"), False)
        if pc.any(negative).as_py():
            moved = pc.binary_join_element_wise("-", pc.utf8_slice_codeunits(text, 0, -1), "")
            text = pc.if_else(negative, moved, text)
    if number_format.thousands:
        separated = pc.fill_null(pc.match_substring(text, number_format.thousands), False)
        if pc.any(separated).as_py():
            in_groups = pc.fill_null(pc.match_substring_regex(text, number_format.grouped), False)
            refused = pc.or_(refused, pc.and_(separated, pc.invert(in_groups)))
            text = pc.if_else(in_groups, pc.replace_substring(text, number_format.thousands, ""), text)
    if number_format.decimal_mark != ".":
        dotted = pc.fill_null(pc.match_substring(text, "."), False)
        refused = pc.or_(refused, dotted)
        text = pc.replace_substring(text, number_format.decimal_mark, ".")
    return text, refused
