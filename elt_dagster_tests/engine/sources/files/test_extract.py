"""Extraction of local files into the staging CSV: listing, column mapping, source columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.sources.files import extract as ex
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.files.helpers import business, data, pipeline, rejects, run


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


# --- values from the environment in a source path ------------------------------------------------------------

DIR_TOKEN = "dir-9f3b2a-token"


def test_a_secret_in_the_path_is_masked_in_every_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELT_T_DIR", DIR_TOKEN)
    folder = tmp_path / "data" / DIR_TOKEN
    write(folder / "a.csv", "id,amount\n1,5\n2,x,extra\n")
    write(folder / f"{DIR_TOKEN}.jsonl", '{"id": 3}\n')  # also in a file's name
    write(folder / "notes.pdf", "not data")
    loaded = pipeline(tmp_path, {"id": "integer"}, path="data/${ELT_T_DIR}")
    files, skipped = ex.list_source_files(loaded)
    shown = f"{tmp_path}/data/***"
    assert [f.source_label for f in files] == [f"{shown}/a.csv", f"{shown}/***.jsonl"]
    assert [f.path for f in files] == [folder / "a.csv", folder / f"{DIR_TOKEN}.jsonl"]  # read where they are
    assert skipped == [f"{shown}/notes.pdf"]
    result, rows = run(loaded, tmp_path)
    assert {row[staging.SOURCE_COLUMN] for row in rows} == {f"{shown}/a.csv", f"{shown}/***.jsonl"}
    assert [f.path for f in result.files] == [f"{shown}/a.csv", f"{shown}/***.jsonl"]
    assert [r["source"] for r in rejects(result)] == [f"{shown}/a.csv"]  # the malformed row
    assert DIR_TOKEN not in result.staging_path.read_text() + result.rejects_path.read_text()


def test_a_reader_error_names_the_file_by_its_masked_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELT_T_DIR", DIR_TOKEN)
    write(tmp_path / "data" / DIR_TOKEN / "a.json", '{"not": "a list"}')
    (tmp_path / "data" / DIR_TOKEN / "b.csv").write_bytes(b"\x00\x00\n1\n")  # read_header refuses it
    loaded = pipeline(tmp_path, path="data/${ELT_T_DIR}/a.json")
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}/data/***/a.json: the file is a JSON object")
    loaded = pipeline(tmp_path, path="data/${ELT_T_DIR}/b.csv")
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}/data/***/b.csv: the header line holds NUL bytes")


def test_a_source_folder_gone_since_the_config_was_read_is_named_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_DIR", DIR_TOKEN)
    (tmp_path / "data" / DIR_TOKEN).mkdir(parents=True)
    loaded = pipeline(tmp_path, path="data/${ELT_T_DIR}")
    (tmp_path / "data" / DIR_TOKEN).rmdir()
    with pytest.raises(ExtractError, match=r"/data/\*\*\*: the source path does not exist") as caught:
        ex.list_source_files(loaded)
    assert DIR_TOKEN not in str(caught.value)


def test_masked_paths_masks_each_path_in_one_pass() -> None:
    paths = [Path(f"/srv/{DIR_TOKEN}/f{n}.csv") for n in range(3)] + [Path("/srv/other.csv")]
    assert ex.masked_paths(paths, frozenset({DIR_TOKEN})) == [f"/srv/***/f{n}.csv" for n in range(3)] + [
        "/srv/other.csv"
    ]
    assert ex.masked_paths(paths, frozenset()) == [str(path) for path in paths]
