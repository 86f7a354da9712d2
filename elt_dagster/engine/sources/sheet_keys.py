"""The sheet keys of a file or object source (`sheet`, `header_row`, `range`): which sheet of a workbook is read,
and where in it; checked when the YAML is read (no workbook is opened)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
"""Workbooks: the files the sheet keys (`sheet`, `header_row`, `range`) apply to."""
_OTHER_SUFFIXES = (".csv", ".txt", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".gz")
_CELL_RANGE = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6}):([A-Z]{1,3})([1-9][0-9]{0,6})?")


@dataclass(frozen=True)
class CellRange:
    """A block of a sheet (`range: B3:F200`): 0-based first and last columns, 1-based first and last rows (None: to
    the sheet's last row)."""

    first_column: int
    last_column: int
    first_row: int
    last_row: int | None


def column_index(letters: str) -> int:
    """A column's 0-based index from its letters: A -> 0, Z -> 25, AA -> 26."""
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def parse_cell_range(text: str) -> CellRange:
    """`B3:F200` or `B3:F` (to the last row) as a CellRange; a ValueError saying what is wrong."""
    found = _CELL_RANGE.fullmatch(text.strip().upper())
    if not found:
        raise ValueError(f"{text!r} is not a cell range: write its corners, e.g. B3:F200, or B3:F to the last row")
    first_letters, first_row, last_letters, last_row = found.groups()
    cells = CellRange(column_index(first_letters), column_index(last_letters), int(first_row), None)
    if last_row is not None:
        cells = CellRange(cells.first_column, cells.last_column, cells.first_row, int(last_row))
    if cells.last_column < cells.first_column or (cells.last_row or cells.first_row) < cells.first_row:
        raise ValueError(f"{text!r}: the range's first cell must be above and left of its last (e.g. B3:F200)")
    return cells


class SheetKeys(StrictModel):
    """The sheet keys a source may set; refused on a source whose path, URL or pattern names other files."""

    sheet: str | int | None = None
    """A workbook's sheet: its name or 0-based position (default: the first)."""
    header_row: int | None = Field(default=None, ge=1, le=1_048_576)
    """The sheet row (1-based, as Excel numbers it) of the header (default 1); rows above it are skipped."""
    range: str | None = None
    """The block of the sheet read (`B3:F200`, or `B3:F` to the last row); its first row is the header."""

    @field_validator("sheet", mode="before")
    @classmethod
    def _sheet_name_or_position(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise ValueError(f"{value!r} is not a sheet: give its name or its 0-based position (0 is the first)")
        return value

    @field_validator("range")
    @classmethod
    def _cell_range(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cell_range(value)
        return value

    @model_validator(mode="after")
    def _sheet_keys_for_workbooks(self) -> SheetKeys:
        given = self.sheet_keys
        if not given:
            return self
        if self.range is not None and self.header_row is not None:
            raise ValueError("header_row and range: the header is the range's first row; leave header_row out")
        for name in self.named_files():
            if Path(name.lower()).suffix in _OTHER_SUFFIXES:
                kinds = ", ".join(SHEET_SUFFIXES)
                raise ValueError(f"{' and '.join(given)}: for workbooks ({kinds}) only; {name!r} names other files")
        return self

    def named_files(self) -> tuple[str, ...]:
        """The path, URL and pattern that say which files the source reads (a workbook's suffix or another's)."""
        raise NotImplementedError

    @property
    def sheet_keys(self) -> list[str]:
        """The sheet keys this source sets (`sheet`, `header_row`, `range`)."""
        return [key for key in ("sheet", "header_row", "range") if getattr(self, key) is not None]

    @property
    def cell_range(self) -> CellRange | None:
        """`range` parsed, or None."""
        return parse_cell_range(self.range) if self.range is not None else None
