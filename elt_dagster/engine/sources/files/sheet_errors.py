"""The error cells (`#DIV/0!`, `#N/A`) of an .xlsx/.xlsm sheet, which calamine reads as empty cells.

The sheet's XML is streamed from the zip a megabyte at a time and only a chunk holding `t="e"` (an error cell's type)
is searched, so a sheet without errors costs one decompression pass and memory holds only the errors found. A cell
written without its `r` reference (rare; Excel always writes it) can't be placed and is not reported.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import unescape

from elt_dagster.engine.sources.sheet_keys import column_index

_CHUNK_BYTES = 1 << 20
_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*\bt="e"[^>]*?)(?<!/)>((?:(?!</(?:\w+:)?c>).)*)</(?:\w+:)?c>', re.DOTALL)
_REFERENCE = re.compile(rb'\br="([A-Z]{1,3})([0-9]+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_SAFE_CUT = re.compile(rb"</(?:\w+:)?c>|(?=<(?:\w+:)?row\b)")
"""Where a chunk may be cut without splitting a cell: after a cell's end, or before a row's start."""
_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def column_letters(index: int) -> str:
    """A column's letters from its 0-based index: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _sheet_part(archive: zipfile.ZipFile, position: int) -> str | None:
    """The zip member of the workbook's sheet at `position` (workbook order), from workbook.xml and its rels."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheets = [element for element in workbook.iter() if element.tag.rsplit("}", 1)[-1] == "sheet"]
    if position >= len(sheets):
        return None
    wanted = sheets[position].get(_RELATIONSHIP)
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for relation in relations:
        if relation.get("Id") == wanted:
            target = relation.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    return None


def _errors_in(chunk: bytes, found: dict[int, dict[int, str]]) -> None:
    for cell in _ERROR_CELL.finditer(chunk):
        reference, value = _REFERENCE.search(cell.group(1)), _VALUE.search(cell.group(2))
        if reference:
            code = unescape(value.group(1).decode("utf-8")) if value else "#error"
            found.setdefault(int(reference.group(2)), {})[column_index(reference.group(1).decode())] = code


def error_cells(path: Path, position: int) -> dict[int, dict[int, str]]:
    """The error cells of the sheet at `position`: {row (1-based): {column (0-based): code}}; {} when none (or when
    the workbook is not laid out as one, which calamine has already reported)."""
    found: dict[int, dict[int, str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, position)
            if part is None:
                return found
            with archive.open(part) as stream:
                tail = b""
                while chunk := stream.read(_CHUNK_BYTES):
                    text = tail + chunk
                    ends = [match.end() for match in _SAFE_CUT.finditer(text, max(0, len(text) - _CHUNK_BYTES))]
                    cut = ends[-1] if ends else 0
                    if b't="e"' in text[:cut]:
                        _errors_in(text[:cut], found)
                    tail = text[cut:]
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return found
    return found
