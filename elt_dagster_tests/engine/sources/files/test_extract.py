"""Extraction of local files into the staging CSV: listing, column mapping, source columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.sources.files import extract as ex
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.files.helpers import business, data, pipeline, run


def test_pattern_selects_files(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options='pattern: "orders_*.csv"')
    wanted = write(data(tmp_path, "orders_1.csv"), "id\n1\n")
    write(data(tmp_path, "customers.csv"), "id\n2\n")
    files, skipped = ex.list_source_files(loaded)
    assert [f.path for f in files] == [wanted] and skipped == []


def test_single_file_source(tmp_path: Path) -> None:
    target = write(data(tmp_path, "a.csv"), "id\n1\n")
    write(data(tmp_path, "b.csv"), "id\n2\n")
    loaded = pipeline(tmp_path, path="data/a.csv")
    files, _ = ex.list_source_files(loaded)
    assert [f.path for f in files] == [target]


# --- columns -----------------------------------------------------------------------------------------


def test_column_names_trimmed_and_matched_case_insensitively(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "Customer_Name": "string"})
    write(data(tmp_path, "a.csv"), " ID ,CUSTOMER_NAME, Extra Col ,NOTE\n1,Anna,x,n1\n")
    write(data(tmp_path, "b.json"), '[{"Id": 2, " customer_name ": "Ben", "Note": "n2"}]')
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "Customer_Name", "extra col", "note"]
    assert business(rows) == [
        {"id": "1", "Customer_Name": "Anna", "extra col": "x", "note": "n1"},
        {"id": "2", "Customer_Name": "Ben", "extra col": None, "note": "n2"},
    ]


def test_strict_mode_drops_undeclared_columns(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "name": "string"}, strict=True)
    write(data(tmp_path, "a.csv"), "id,name,secret\n1,Anna,s1\n")
    write(data(tmp_path, "b.jsonl"), '{"id": 2, "name": "Ben", "other": {"x": 1}}\n')
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "name"]
    assert list(rows[0]) == ["id", "name", staging.SOURCE_COLUMN, staging.SOURCE_ROW_COLUMN]
    assert business(rows) == [{"id": "1", "name": "Anna"}, {"id": "2", "name": "Ben"}]


def test_strict_mode_without_columns_is_an_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {}, strict=True)
    write(data(tmp_path, "a.csv"), "id\n1\n")
    with pytest.raises(ExtractError, match="no columns found"):
        run(loaded, tmp_path)


def test_declared_column_missing_from_a_file_is_null(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "email": "string"})
    write(data(tmp_path, "a.csv"), "id,email\n1,a@x.org\n")
    write(data(tmp_path, "b.csv"), "id\n2\n3\n")
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "email"]
    assert [(row["id"], row["email"]) for row in rows] == [("1", "a@x.org"), ("2", None), ("3", None)]


def test_source_file_and_row_on_every_staging_row(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    first = write(data(tmp_path, "a.csv"), "id\n1\n2\n")
    second = write(data(tmp_path, "b.jsonl"), '{"id": 3}\n{"id": 4}\n{"id": 5}\n')
    result, rows = run(loaded, tmp_path)
    assert [(row["id"], row[staging.SOURCE_COLUMN], row[staging.SOURCE_ROW_COLUMN]) for row in rows] == [
        ("1", str(first), 1),
        ("2", str(first), 2),
        ("3", str(second), 1),
        ("4", str(second), 2),
        ("5", str(second), 3),
    ]
    assert [(f.path, f.rows, f.malformed) for f in result.files] == [(str(first), 2, 0), (str(second), 3, 0)]
    assert result.rows_extracted == 5


def test_source_columns_named_like_bookkeeping_columns_are_left_out(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id,_elt_row_hash,_elt_run_id\n1,abc,old-run\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging")
    assert report.columns == ["id"]


def test_text_with_a_nul_character_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"id,name\n1,ok\n2,bad\x00name\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["name"] for row in report.first_rows] == ["ok"]
    assert "NUL" in report.first_rejects[0]["reason"]
