"""Real .xlsx and .ods files for the tests, written as zips of minimal XML (openpyxl is not a dependency), and
legacy .xls files through xlwt.

A sheet is a list of rows from A1; a row is a list of cells: str, int, float, bool, date, datetime, time, None (an
empty cell) or `CellError("#DIV/0!")`. Strings go to sharedStrings.xml, except those in `inline=True` sheets.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from elt_dagster.engine.sources.files.sheet_errors import column_letters

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
Cell = str | int | float | bool | dt.date | dt.datetime | dt.time | None


@dataclass(frozen=True)
class CellError:
    """An error cell, as Excel stores a formula's failure (`#DIV/0!`, `#N/A`)."""

    code: str


_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/styles.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
<Override PartName="/xl/sharedStrings.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
{sheets}
</Types>"""
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="xl/workbook.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""
_OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# Style 1: a date (built-in format 14), 2: a date and time (22), 3: a time (21).
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}">
<fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>
<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>
<xf numFmtId="22" applyNumberFormat="1"/><xf numFmtId="21" applyNumberFormat="1"/></cellXfs>
</styleSheet>"""


def _serial(value: dt.date | dt.datetime | dt.time) -> tuple[str, int]:
    """A date, datetime or time as Excel's serial number and its style."""
    if isinstance(value, dt.datetime):
        return repr((value - EXCEL_EPOCH) / dt.timedelta(days=1)), 2
    if isinstance(value, dt.date):
        return str((value - EXCEL_EPOCH.date()).days), 1
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    return repr(seconds / 86400), 3


def _xlsx_cell(ref: str, value: Cell, strings: dict[str, int], inline: bool) -> str:
    if isinstance(value, CellError):
        return f'<c r="{ref}" t="e"><f>1/0</f><v>{escape(value.code)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, dt.date | dt.time):
        serial, style = _serial(value)
        return f'<c r="{ref}" s="{style}"><v>{serial}</v></c>'
    if inline:
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
    index = strings.setdefault(value, len(strings))
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'


def _worksheet(rows: list[list[Cell]], strings: dict[str, int], inline: bool) -> str:
    lines = []
    for number, row in enumerate(rows, start=1):
        cells = [
            _xlsx_cell(f"{column_letters(col)}{number}", value, strings, inline)
            for col, value in enumerate(row)
            if value is not None
        ]
        if cells:
            lines.append(f'<row r="{number}">{"".join(cells)}</row>')
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{_MAIN}"><sheetData>{"".join(lines)}</sheetData></worksheet>'


def write_xlsx(path: Path, sheets: dict[str, list[list[Cell]]], inline: bool = False) -> Path:
    """An .xlsx workbook of `sheets` (name -> rows), in that order."""
    strings: dict[str, int] = {}
    parts = {
        f"xl/worksheets/sheet{i}.xml": _worksheet(rows, strings, inline) for i, rows in enumerate(sheets.values(), 1)
    }
    entries = "".join(
        f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(sheets, start=1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_OFFICE_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    n = len(sheets)
    rels += f'<Relationship Id="rId{n + 1}" Type="{_OFFICE_RELS}/styles" Target="styles.xml"/>'
    rels += f'<Relationship Id="rId{n + 2}" Type="{_OFFICE_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
    shared = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
    overrides = "".join(
        f'<Override PartName="/{part}" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for part in parts
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=overrides))
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE_RELS}">'
            f"<sheets>{entries}</sheets></workbook>",
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships '
            f'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>',
        )
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr(
            "xl/sharedStrings.xml",
            f'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="{_MAIN}" count="{len(strings)}" '
            f'uniqueCount="{len(strings)}">{shared}</sst>',
        )
        for part, xml in parts.items():
            archive.writestr(part, xml)
    return path


_ODS_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" office:version="1.2"'
)
_ODS_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""


def _ods_cell(value: Cell) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, CellError):  # as LibreOffice writes a formula's error
        return (
            '<table:table-cell table:formula="of:=1/0" office:value-type="string" office:string-value="" '
            f'calcext:value-type="error"><text:p>{escape(value.code)}</text:p></table:table-cell>'
        )
    if isinstance(value, bool):
        kind, attrs, text = "boolean", f'office:boolean-value="{str(value).lower()}"', str(value).upper()
    elif isinstance(value, int | float):
        kind, attrs, text = "float", f'office:value="{value!r}"', repr(value)
    elif isinstance(value, dt.date):
        kind, attrs, text = "date", f'office:date-value="{value.isoformat()}"', value.isoformat()
    elif isinstance(value, dt.time):
        duration = f"PT{value.hour:02d}H{value.minute:02d}M{value.second:02d}S"
        kind, attrs, text = "time", f'office:time-value="{duration}"', value.isoformat()
    else:
        kind, attrs, text = "string", "", str(value)
    return f'<table:table-cell office:value-type="{kind}" {attrs}><text:p>{escape(text)}</text:p></table:table-cell>'


def write_ods(path: Path, sheets: dict[str, list[list[Cell]]]) -> Path:
    """An OpenDocument spreadsheet of `sheets` (name -> rows), in that order."""
    tables = "".join(
        f"<table:table table:name={quoteattr(name)}>"
        + "".join(f"<table:table-row>{''.join(_ods_cell(v) for v in row)}</table:table-row>" for row in rows)
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_ODS_NAMESPACES}>'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        archive.writestr("content.xml", content)
    return path


_XLS_FORMATS = {dt.datetime: "YYYY-MM-DD HH:MM:SS", dt.date: "YYYY-MM-DD", dt.time: "HH:MM:SS"}


def write_xls(path: Path, sheets: dict[str, list[list[Cell]]]) -> Path:
    """A legacy Excel (BIFF8) workbook, written by `xlwt` (a dev dependency): dates and times as Excel serial
    numbers with a date format, as Excel writes them. Error cells are not written (xlwt has none)."""
    import xlwt

    workbook = xlwt.Workbook()
    for name, rows in sheets.items():
        sheet = workbook.add_sheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None or isinstance(value, CellError):
                    continue
                shown = _XLS_FORMATS.get(type(value))
                sheet.write(r, c, value, xlwt.easyxf(num_format_str=shown) if shown else xlwt.Style.default_style)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(str(path))
    return path
