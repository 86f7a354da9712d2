"""Workbooks (.xlsx, .ods) written in the test, loaded into a real PostgreSQL: cells as they are held (dates, numbers,
booleans, empty cells), error cells quarantined with their sheet row, `sheet`, `header_row` and `range`, and a
wrong sheet, a broken or password-protected workbook, sheet keys on a CSV each one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.config import ConfigError
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.files.excel import cell_text, iter_sheet
from elt_dagster.engine.sources.files.extract import list_source_files
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, ExtractError, file_format
from elt_dagster.engine.sources.sheet_keys import CellRange, parse_cell_range
from elt_dagster_tests.engine.sources.files.helpers import business, pipeline, read_staging
from elt_dagster_tests.engine.sources.files.workbooks import CellError, write_ods, write_xls, write_xlsx

HEADER = ["id", "day", "amount", "active", "note", "at", "starts"]
ORDERS = [
    ["Orders export", None, "printed 2024-03-01"],  # a title and a note above the header
    [],
    HEADER,
    [1, dt.date(2024, 1, 2), 12.5, True, "first", dt.datetime(2024, 1, 2, 3, 4, 5, 250000), dt.time(13, 14, 15)],
    [2.0, dt.date(2024, 2, 29), 0.1, False, None, dt.datetime(2024, 2, 29, 0, 0, 1), dt.time(0, 0, 1)],
    [],  # a blank row: passed over
    [3, dt.date(2024, 3, 1), CellError("#DIV/0!"), None, "broken", None, None],
    [4, dt.date(2024, 3, 2), 1e15, None, "", None, None],
]
SCHEMA = """
schema:
  columns:
    id: integer
    day: date
    amount: decimal
    active: boolean
    note: string
    at: timestamp
    starts: string
"""


def source_yaml(path: str, options: str = "", schema: str = SCHEMA) -> str:
    lines = "".join(f"    {line}\n" for line in options.splitlines() if line.strip())
    return f"sources:\n  - path: ../data/{path}\n{lines}target:\n  table: t\n  db_schema: {{schema}}\n{schema}"


def stored(database_url: str, db_schema: str, columns: str = "*") -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f'SELECT {columns} FROM "{db_schema}".t ORDER BY 1').fetchall()


def quarantined(database_url: str, db_schema: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f'SELECT source_row, reason, source FROM "{db_schema}".t__rejected ORDER BY source_row'
        ).fetchall()


def column_types(database_url: str, db_schema: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 't' AND column_name NOT LIKE '\\_elt\\_%%'",
            (db_schema,),
        ).fetchall()
    return dict(rows)


EXPECTED = [
    (1, dt.date(2024, 1, 2), "12.5", True, "first", dt.datetime(2024, 1, 2, 3, 4, 5, 250000), "13:14:15"),
    (2, dt.date(2024, 2, 29), "0.1", False, None, dt.datetime(2024, 2, 29, 0, 0, 1), "00:00:01"),
    (4, dt.date(2024, 3, 2), "1000000000000000", None, None, None, None),
]


def test_an_xlsx_sheet_loads_with_its_cells_types_and_an_error_cell_quarantined(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    path = write_xlsx(tmp_path / "data" / "orders.xlsx", {"Orders": ORDERS, "Other": [["x"], [1]]})
    report = run_pipeline(make_pipeline(source_yaml("orders.xlsx", "sheet: Orders\nheader_row: 3")))
    assert (report.inserted, report.files[0].rows, report.files[0].malformed) == (3, 3, 1)
    rows = stored(database_url, db_schema, "id, day, amount::text, active, note, at, starts")
    assert rows == EXPECTED
    assert column_types(database_url, db_schema)["day"] == "date"
    assert column_types(database_url, db_schema)["amount"] == "numeric"
    assert quarantined(database_url, db_schema) == [(7, "error cell #DIV/0! in column amount", str(path))]


def test_an_ods_sheet_loads_like_an_xlsx(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    rows = [row for row in ORDERS if not any(isinstance(cell, CellError) for cell in row)]
    write_ods(tmp_path / "data" / "orders.ods", {"Orders": rows})
    report = run_pipeline(make_pipeline(source_yaml("orders.ods", "header_row: 3")))
    assert (report.inserted, report.invalid) == (3, 0)
    assert stored(database_url, db_schema, "id, day, amount::text, active, note, at, starts") == EXPECTED


def test_a_legacy_xls_sheet_loads_like_an_xlsx(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    """A real BIFF8 .xls (as Excel 97-2003 saves it): dates, numbers and booleans as the cells hold them."""
    rows = [row for row in ORDERS if not any(isinstance(cell, CellError) for cell in row)]
    rows[3] = [*rows[3][:5], dt.datetime(2024, 1, 2, 3, 4, 5), *rows[3][6:]]  # .xls times are read to the second
    write_xls(tmp_path / "data" / "orders.xls", {"Orders": rows})
    report = run_pipeline(make_pipeline(source_yaml("orders.xls", "header_row: 3")))
    assert (report.inserted, report.invalid) == (3, 0)
    expected = [(*EXPECTED[0][:5], dt.datetime(2024, 1, 2, 3, 4, 5), EXPECTED[0][6]), *EXPECTED[1:]]
    assert stored(database_url, db_schema, "id, day, amount::text, active, note, at, starts") == expected
    assert column_types(database_url, db_schema)["day"] == "date"


def test_inline_strings_and_a_schema_less_pipeline(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [["name", "n"], ["Zoë", 42.0], ["  spaced  ", 0.1]]}, inline=True)
    report = run_pipeline(make_pipeline(source_yaml("a.xlsx", schema="")))
    assert report.inserted == 2
    assert stored(database_url, db_schema, "name, n") == [("  spaced  ", "0.1"), ("Zoë", "42")]


@pytest.mark.parametrize(("sheet", "expected"), [("", "first"), ("sheet: 1", "second"), ("sheet: Second", "second")])
def test_a_sheet_by_name_or_position_default_the_first(tmp_path: Path, sheet: str, expected: str) -> None:
    write_xlsx(tmp_path / "data" / "a.xlsx", {"First": [["v"], ["first"]], "Second": [["v"], ["second"]]})
    result = check_pipeline(pipeline(tmp_path, path="data/a.xlsx", source_options=sheet), tmp_path / "staging")
    assert business(read_staging(result.staging_path)) == [{"v": expected}]


def test_a_range_reads_its_columns_and_rows_only(tmp_path: Path) -> None:
    sheet = [
        ["notes", "ignored"],
        [None, "Report"],
        ["x", "id", "", "amount", "outside"],
        ["x", 1, "a", 10, "y"],
        [None, 2, None, 20],
        [None, 3, "c", 30],
    ]
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": sheet})
    loaded = pipeline(tmp_path, path="data/a.xlsx", source_options="range: B3:D5")
    rows = read_staging(check_pipeline(loaded, tmp_path / "staging").staging_path)
    assert business(rows) == [
        {"id": "1", "column_2": "a", "amount": "10"},
        {"id": "2", "column_2": None, "amount": "20"},
    ]
    assert [row["_elt_source_row"] for row in rows] == [4, 5]
    loaded = pipeline(tmp_path, path="data/a.xlsx", source_options="range: b3:d")
    assert len(read_staging(check_pipeline(loaded, tmp_path / "staging2").staging_path)) == 3


def test_values_beside_the_header_are_quarantined_not_lost(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [[None, "id", "v"], [None, 1, "a"], [None, 2, "b", "stray"]]})
    batches = list(iter_sheet(tmp_path / "data" / "a.xlsx", pipeline(tmp_path, path="data/a.xlsx").config.sources[0]))
    assert [batch.table.to_pylist() for batch in batches] == [[{"id": "1", "v": "a"}]]
    [malformed] = batches[0].malformed
    assert (malformed.row, malformed.reason) == (3, "a value outside the header's columns (D)")
    assert malformed.raw == '{"id": "2", "v": "b", "D": "stray"}'


def test_a_header_without_rows_loads_nothing(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [HEADER]})
    report = run_pipeline(make_pipeline(source_yaml("a.xlsx")))
    assert (report.inserted, report.invalid) == (0, 0)
    assert stored(database_url, db_schema) == []


def test_batches_hold_batch_rows_rows_with_the_sheet_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [["n"], *([i] for i in range(BATCH_ROWS + 3))]})
    batches = list(iter_sheet(path, pipeline(tmp_path, path="data/a.xlsx").config.sources[0]))
    assert [batch.table.num_rows for batch in batches] == [BATCH_ROWS, 3]
    assert batches[1].row_numbers.to_pylist() == [BATCH_ROWS + 2, BATCH_ROWS + 3, BATCH_ROWS + 4]
    assert batches[1].table.column("n").to_pylist() == [str(BATCH_ROWS), str(BATCH_ROWS + 1), str(BATCH_ROWS + 2)]


def one_line_error(tmp_path: Path, options: str = "", name: str = "a.xlsx") -> str:
    with pytest.raises(ExtractError) as caught:
        check_pipeline(pipeline(tmp_path, path=f"data/{name}", source_options=options), tmp_path / "staging")
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_an_unknown_sheet_is_one_line_listing_the_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "data" / "a.xlsx", {"First": [["v"]], "Second": [["v"]]})
    assert (
        one_line_error(tmp_path, "sheet: Third") == f"{path}: no sheet named 'Third'; its sheets are 'First', 'Second'"
    )
    assert one_line_error(tmp_path, "sheet: 2").startswith(f"{path}: no sheet 2 (0 is the first); its sheets are")


def test_a_corrupt_or_password_protected_workbook_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "a.xlsx"
    write_xlsx(path, {"S": [["v"], [1]]})
    path.write_bytes(path.read_bytes()[:200])
    assert one_line_error(tmp_path).startswith(f"{path}: can't read the workbook (")
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000))  # what Excel writes for an encrypted .xlsx
    assert one_line_error(tmp_path) == f"{path}: the workbook is password-protected: save a copy without a password"


def test_an_empty_header_row_is_one_line(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [["id"], [1]]})
    assert one_line_error(tmp_path, "header_row: 5") == f"{path}: sheet 'S': the header row 5 is empty"


def test_sheet_keys_for_other_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    with pytest.raises(ConfigError, match=r"sheet: for workbooks \(\.xlsx, \.xlsm, \.xls, \.ods\) only; 'data/a\.csv'"):
        pipeline(tmp_path, path="data/a.csv", source_options="sheet: 0")
    # a folder of CSVs: the file is refused when it is read
    assert one_line_error(tmp_path, "header_row: 2", name="").endswith(
        "are for workbooks (.xlsx, .xlsm, .xls, .ods) only; this is not one"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("range: B3", "'B3' is not a cell range"),
        ("range: F3:B9", "first cell must be above and left of its last"),
        ("range: B3:F\nheader_row: 2", "header_row and range: the header is the range's first row"),
        ("sheet: -1", "-1 is not a sheet"),
        ("header_row: 0", "header_row"),
    ],
)
def test_wrong_sheet_keys_are_one_line_at_load(tmp_path: Path, options: str, message: str) -> None:
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [["v"]]})
    with pytest.raises(ConfigError, match=message):
        pipeline(tmp_path, path="data/a.xlsx", source_options=options)


def test_workbooks_are_listed_by_suffix_but_not_gzipped(tmp_path: Path) -> None:
    assert [file_format(Path(f"a.{s}"))[0] for s in ("xlsx", "XLSM", "xls", "ods")] == ["xlsx", "xlsm", "xls", "ods"]
    assert file_format(Path("a.xlsx.gz"))[0] == ""
    write_xlsx(tmp_path / "data" / "a.xlsx", {"S": [["v"]]})
    assert [f.format for f in list_source_files(pipeline(tmp_path))[0]] == ["xlsx"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42.0, "42"), (0.1, "0.1"), (-3.0, "-3"), (1 / 3, "0.3333333333333333"), (7, "7"), (True, "true"),
        (False, "false"), ("", None), ("x", "x"), (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"), (dt.time(13, 14, 15), "13:14:15"),
        (dt.timedelta(hours=36, seconds=1.5), "36:00:01.5"), (dt.timedelta(minutes=-90), "-1:30:00"),
    ],
)  # fmt: skip
def test_cells_as_text(value: object, text: str | None) -> None:
    assert cell_text(value) == text


def test_cell_ranges() -> None:
    assert parse_cell_range("B3:F200") == CellRange(1, 5, 3, 200)
    assert parse_cell_range("aa1:ab") == CellRange(26, 27, 1, None)
