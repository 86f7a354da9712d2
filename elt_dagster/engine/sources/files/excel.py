"""Workbooks (.xlsx, .xlsm, .xls, .ods): one sheet read with python-calamine (Rust's calamine) into RawBatches.

Cells are read as they are held, not as displayed: numbers as text without float noise (42.0 -> `42`, 0.1 -> `0.1`),
dates `YYYY-MM-DD`, dates with a time `YYYY-MM-DDTHH:MM:SS[.ffffff]`, times `HH:MM:SS`, durations `H:MM:SS`,
booleans `true`/`false`, empty cells NULL. An .xlsx/.xlsm error cell (`#DIV/0!`) quarantines its row with the reason
(`sheet_errors.py` finds them: calamine reads them as empty).

Memory: calamine holds the whole sheet when it is opened: about 32 bytes per cell of its used area plus the text of
its strings (a 1M-row, 10-column sheet: ~350 MB; Excel's limit is 1,048,576 rows), and an .xlsx's shared strings. The
rows are then turned into Python one at a time, so Python holds one batch of BATCH_ROWS rows, never the sheet.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook, PasswordError

from elt_dagster.engine.config.models import LocalSource
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, MAX_COLUMNS, ExtractError, Malformed, RawBatch
from elt_dagster.engine.sources.files.readers import short_error as _short
from elt_dagster.engine.sources.files.sheet_errors import column_letters, error_cells
from elt_dagster.engine.sources.sheet_keys import SHEET_SUFFIXES

SHEET_FORMATS = tuple(suffix[1:] for suffix in SHEET_SUFFIXES)
"""The formats (`file_format`) read here."""
_ENCRYPTED = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""An OLE compound file: what an .xls is, and what Excel turns an .xlsx into when it encrypts it with a password."""


def _duration(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f"{seconds:09.6f}".rstrip("0").rstrip(".")
    return f"{sign}{int(hours)}:{int(minutes):02d}:{fraction}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


_TEXT: dict[type, Callable[[Any], str | None]] = {
    str: lambda value: value or None,
    float: _number,
    int: str,
    bool: lambda value: "true" if value else "false",
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    dt.timedelta: _duration,
}


def cell_text(value: Any) -> str | None:
    """A cell as text, as it is held (see the module); an empty cell None."""
    return _TEXT[type(value)](value)


@dataclass(frozen=True)
class SheetArea:
    """Where a sheet's table is: the header's row (1-based), the last row read, the first and last columns (0-based;
    None: to the header's last name)."""

    header_row: int
    last_row: int | None
    first_column: int
    last_column: int | None

    @classmethod
    def of(cls, source: LocalSource) -> SheetArea:
        cells = source.cell_range
        if cells is None:
            return cls(source.header_row or 1, None, 0, None)
        return cls(cells.first_row, cells.last_row, cells.first_column, cells.last_column)


def _open_sheet(path: Path, sheet: str | int | None) -> tuple[CalamineSheet, int]:
    """The sheet and its position in the workbook; an ExtractError naming the file when it can't be read."""
    if path.suffix.lower() not in SHEET_SUFFIXES:
        kinds = ", ".join(SHEET_SUFFIXES)
        raise ExtractError(f"{path}: sheet, header_row and range are for workbooks ({kinds}) only; this is not one")
    try:
        with path.open("rb") as handle:
            encrypted = path.suffix.lower() != ".xls" and handle.read(len(_ENCRYPTED)) == _ENCRYPTED
        if encrypted:
            raise PasswordError("encrypted")
        with CalamineWorkbook.from_path(path) as workbook:
            names = workbook.sheet_names
            position = _sheet_position(path, names, sheet)
            return workbook.get_sheet_by_index(position), position
    except PasswordError:
        raise ExtractError(f"{path}: the workbook is password-protected: save a copy without a password") from None
    except (CalamineError, OSError, ValueError) as exc:
        raise ExtractError(f"{path}: can't read the workbook ({_short(exc)})") from None


def _sheet_position(path: Path, names: list[str], sheet: str | int | None) -> int:
    listed = ", ".join(repr(name) for name in names) or "none"
    if isinstance(sheet, int) and sheet >= len(names):
        raise ExtractError(f"{path}: no sheet {sheet} (0 is the first); its sheets are {listed}")
    if isinstance(sheet, str) and sheet not in names:
        raise ExtractError(f"{path}: no sheet named {sheet!r}; its sheets are {listed}")
    return names.index(sheet) if isinstance(sheet, str) else sheet or 0


def _rows(sheet: CalamineSheet, area: SheetArea) -> Iterator[tuple[int, list[Any]]]:
    """(sheet row number, its cells from the area's first column) from the header row to the area's last row."""
    start = sheet.start
    if start is None:
        return
    first_row, first_column = start[0] + 1, start[1]
    pad = [""] * max(0, first_column - area.first_column)
    skip = max(0, area.first_column - first_column)
    for offset, cells in enumerate(sheet.iter_rows()):
        number = first_row + offset
        if area.last_row is not None and number > area.last_row:
            return
        if number >= area.header_row:
            yield number, pad + cells[skip:]


@dataclass(frozen=True)
class _Columns:
    """The table's columns in the cells `_rows` yields: names, and the first one's position among the cells."""

    names: list[str]
    offset: int

    @property
    def end(self) -> int:
        return self.offset + len(self.names)


def _header(path: Path, sheet: CalamineSheet, rows: Iterator[tuple[int, list[Any]]], area: SheetArea) -> _Columns:
    """The header row's names: the range's columns, or from the first named column to the last; none for an empty
    sheet."""
    name, sheet_has_cells = sheet.name, sheet.start is not None
    number, cells = next(rows, (0, []))
    if number != area.header_row:
        if sheet_has_cells:
            raise ExtractError(f"{path}: sheet {name!r}: the header row {area.header_row} is empty")
        return _Columns([], 0)
    if area.last_column is not None:
        width = area.last_column - area.first_column + 1
        return _check_width(path, _Columns([cell_text(cell) or "" for cell in (cells + [""] * width)[:width]], 0))
    named = [index for index, cell in enumerate(cells) if cell_text(cell)]
    if not named:
        raise ExtractError(f"{path}: sheet {name!r}: the header row {area.header_row} is empty")
    names = [cell_text(cell) or "" for cell in cells[named[0] : named[-1] + 1]]
    return _check_width(path, _Columns(names, named[0]))


def _check_width(path: Path, columns: _Columns) -> _Columns:
    if len(columns.names) > MAX_COLUMNS:
        count = len(columns.names)
        raise ExtractError(
            f"{path}: the header has {count:,} columns; a PostgreSQL table holds at most {MAX_COLUMNS:,}"
        )
    return columns


def read_sheet_header(path: Path, source: LocalSource) -> list[str]:
    """The column names of a workbook's sheet (its header row), as the source's sheet keys place it."""
    sheet, _ = _open_sheet(path, source.sheet)
    area = SheetArea.of(source)
    return _header(path, sheet, _rows(sheet, area), area).names


class _Batch:
    """The rows of one batch, column by column, and the rows quarantined."""

    def __init__(self, names: list[str]):
        self.names = names
        self.columns: list[list[str | None]] = [[] for _ in names]
        self.numbers: list[int] = []
        self.malformed: list[Malformed] = []

    def add(self, number: int, values: list[str | None]) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)
        self.numbers.append(number)

    def quarantine(self, number: int, record: dict[str, str | None], reason: str) -> None:
        self.malformed.append(Malformed(raw=json.dumps(record, ensure_ascii=False), reason=reason, row=number))

    def __len__(self) -> int:
        return len(self.numbers) + len(self.malformed)

    def table(self) -> RawBatch:
        arrays = [pa.array(column, pa.string()) for column in self.columns]
        table = pa.Table.from_arrays(arrays, names=self.names)
        return RawBatch(table, pa.array(self.numbers, pa.int64()), self.malformed)


def iter_sheet(path: Path, source: LocalSource) -> Iterator[RawBatch]:
    """Batches of BATCH_ROWS rows of the source's sheet of a workbook; rows with an error cell, or (no `range`) a
    value left or right of the header's columns, are quarantined with the reason; rows with no value are passed
    over."""
    sheet, position = _open_sheet(path, source.sheet)
    area = SheetArea.of(source)
    rows = _rows(sheet, area)
    columns = _header(path, sheet, rows, area)
    errors = error_cells(path, position) if path.suffix.lower() in (".xlsx", ".xlsm") else {}
    layout = _Layout(columns, area)
    batch = _Batch(columns.names)
    for number, cells in rows:
        values = [cell_text(cell) for cell in (cells + [""] * columns.end)[columns.offset : columns.end]]
        reason = layout.problem(cells, errors.get(number))
        if reason:
            batch.quarantine(number, layout.record(cells), reason)
        elif any(value is not None for value in values):
            batch.add(number, values)
        if len(batch) >= BATCH_ROWS:
            yield batch.table()
            batch = _Batch(columns.names)
    if len(batch):
        yield batch.table()


@dataclass(frozen=True)
class _Layout:
    """Where the table's columns are on the sheet, to name cells and find the ones outside it."""

    columns: _Columns
    area: SheetArea

    def letters(self, index: int) -> str:
        """The sheet column of the `index`th cell `_rows` yields."""
        return column_letters(self.area.first_column + index)

    def record(self, cells: list[Any]) -> dict[str, str | None]:
        """A quarantined row: its values by column name (or letters), and the values outside the table."""
        names, offset = self.columns.names, self.columns.offset
        return {
            (names[index - offset] if offset <= index < self.columns.end else "") or self.letters(index): cell_text(
                cell
            )
            for index, cell in enumerate(cells)
            if offset <= index < self.columns.end or cell != ""
        }

    def problem(self, cells: list[Any], errors: dict[int, str] | None) -> str | None:
        """Why a row can't be loaded: an error cell among its columns, or (no `range`) a value outside them."""
        first = self.area.first_column + self.columns.offset
        found = [
            f"{code} in column {self.columns.names[column - first] or column_letters(column)}"
            for column, code in sorted((errors or {}).items())
            if 0 <= column - first < len(self.columns.names)
        ]
        if found:
            return "error cell " + ", ".join(found)
        if self.area.last_column is None:
            outside = [
                i for i, cell in enumerate(cells) if cell != "" and not self.columns.offset <= i < self.columns.end
            ]
            if outside:
                return f"a value outside the header's columns ({self.letters(outside[0])})"
        return None
