"""Extraction of local files into the staging CSV: formats, column mapping, malformed records, bounded reading."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from elt_dagster.engine.config import LoadedConfig, load_config
from elt_dagster.engine.dry_run import CheckReport, check_pipeline
from elt_dagster.engine.sources.files import extract as ex
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, ExtractError
from elt_dagster.engine.staging import SOURCE_COLUMN, SOURCE_ROW_COLUMN, STAGING_FILE
from elt_dagster_tests.conftest import write


def pipeline(
    tmp_path: Path,
    columns: dict[str, str] | None = None,
    *,
    strict: bool = False,
    path: str = "data",
    source_options: str = "",
) -> LoadedConfig:
    """Load a pipeline reading `tmp_path/<path>` with the given declared columns and source options."""
    (tmp_path / "data").mkdir(exist_ok=True)
    lines = ["sources:", "  - type: local", f"    path: {path}"]
    lines += [f"    {line}" for line in source_options.splitlines() if line.strip()]
    lines += ["target:", "  table: t"]
    if columns is not None or strict:
        lines += ["schema:", f"  strict_mode: {'true' if strict else 'false'}", "  columns:"]
        lines += [f"    {name}: {type_name}" for name, type_name in (columns or {}).items()]
        if not columns:
            lines[-1] += " {}"
    return load_config(write(tmp_path / "pipeline.yaml", "\n".join(lines) + "\n"))


def read_staging(path: Path) -> list[dict[str, Any]]:
    """The staging CSV's rows; an unquoted empty field is NULL (None), a quoted one is ''."""
    with path.open(encoding="utf-8", newline="") as handle:
        names = next(csv.reader(handle))
    types = {name: pa.int64() if name == SOURCE_ROW_COLUMN else pa.string() for name in names}
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""]
        ),
    )
    return table.to_pylist()


def run(loaded: LoadedConfig, tmp_path: Path) -> tuple[CheckReport, list[dict[str, Any]]]:
    """Extract every source file of `loaded` (a dry run) and read the staging rows back."""
    result = check_pipeline(loaded, tmp_path / "staging", keep_rows=0)
    assert result.staging_path == tmp_path / "staging" / STAGING_FILE
    return result, read_staging(result.staging_path)


def rejects(result: CheckReport) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.rejects_path.read_text(encoding="utf-8").splitlines()]


def business(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the `_elt_` bookkeeping columns."""
    return [{k: v for k, v in row.items() if not k.startswith("_elt_")} for row in rows]


def data(tmp_path: Path, name: str) -> Path:
    return tmp_path / "data" / name


# --- delimited files ---------------------------------------------------------------------------------


def test_csv_quoting_round_trips_exactly(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    values = ["a, b", 'say "hi"', "line1\nline2", "  padded  ", "Zürich ✓", "x;y|z\tw"]
    with data(tmp_path, "a.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,text\n")
        for number, value in enumerate(values, start=1):
            handle.write(f'{number},"{value.replace(chr(34), chr(34) * 2)}"\n')
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "text"]
    assert [row["text"] for row in rows] == values
    assert [row["id"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert result.rows_extracted == 6 and result.malformed == 0


def test_txt_semicolon_delimiter_is_sniffed(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.txt"), "id;name;city\n1;Anna;Berlin\n2;Ben, Jr.;Köln\n")
    _, rows = run(loaded, tmp_path)
    assert business(rows) == [
        {"id": "1", "name": "Anna", "city": "Berlin"},
        {"id": "2", "name": "Ben, Jr.", "city": "Köln"},
    ]


def test_txt_pipe_delimiter_from_config(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="delimiter: '|'")
    assert loaded.config.sources[0].delimiter == "|"
    write(data(tmp_path, "a.txt"), "id|note\n1|a;b\n2|c,d\n3|e;f,g\n")
    _, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "note": "a;b"}, {"id": "2", "note": "c,d"}, {"id": "3", "note": "e;f,g"}]


def test_tsv(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.tsv"), "id\tname\n1\tSmith, J\n2\tDoe; A\n")
    _, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "name": "Smith, J"}, {"id": "2", "name": "Doe; A"}]


def test_latin1_encoding(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="encoding: latin-1")
    data(tmp_path, "a.csv").write_bytes("id,name\n1,Müller\n2,café\n".encode("latin-1"))
    _, rows = run(loaded, tmp_path)
    assert [row["name"] for row in rows] == ["Müller", "café"]


def test_wrong_encoding_is_an_extract_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = data(tmp_path, "a.csv")
    path.write_bytes("id,name\n1,Müller\n".encode("latin-1"))
    with pytest.raises(ExtractError, match=str(path)):
        run(loaded, tmp_path)


def test_too_many_fields_is_kept_aside_as_malformed(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = write(data(tmp_path, "a.csv"), "id,name\n1,a\n2,b,extra\n3,c\n")
    result, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "name": "a"}, {"id": "3", "name": "c"}]
    assert result.files[0].rows == 2
    assert result.files[0].malformed == 1
    [reject] = rejects(result)
    assert reject["reason"] == "expected 2 fields, found 3"
    assert reject["raw_record"] == {"line": "2,b,extra"}
    assert reject["source"] == str(path)
    assert reject["column"] is None


def test_rows_after_a_malformed_row_keep_their_record_number(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.csv"), "id,name\n1,a\n2,b,extra\n3,c\n")
    _, rows = run(loaded, tmp_path)
    assert [(row["id"], row[SOURCE_ROW_COLUMN]) for row in rows] == [("1", 1), ("3", 3)]


def test_malformed_csv_row_has_its_record_number(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.csv"), "id,name\n1,a\n2,b,extra\n3,c\n")
    result, _ = run(loaded, tmp_path)
    [reject] = rejects(result)
    assert reject["source_row"] == 2


# --- JSON --------------------------------------------------------------------------------------------


def test_json_array_with_nested_objects_is_flattened(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    records = [
        {
            "id": 1,
            "customer": {"name": "Anna", "address": {"city": "Köln", "zip": "50667"}},
            "tags": ["a", "b"],
            "items": [{"sku": "X", "qty": 2}],
            "active": True,
            "amount": 12.5,
            "note": None,
        },
        {"id": 2, "customer": {"name": "Ben"}, "active": False, "tags": []},
    ]
    write(data(tmp_path, "a.json"), json.dumps(records))
    result, rows = run(loaded, tmp_path)
    assert result.columns == [
        "id",
        "customer_name",
        "customer_address_city",
        "customer_address_zip",
        "tags",
        "items",
        "active",
        "amount",
        "note",
    ]
    assert business(rows) == [
        {
            "id": "1",
            "customer_name": "Anna",
            "customer_address_city": "Köln",
            "customer_address_zip": "50667",
            "tags": '["a","b"]',
            "items": '[{"sku":"X","qty":2}]',
            "active": "true",
            "amount": "12.5",
            "note": None,
        },
        {
            "id": "2",
            "customer_name": "Ben",
            "customer_address_city": None,
            "customer_address_zip": None,
            "tags": "[]",
            "items": None,
            "active": "false",
            "amount": None,
            "note": None,
        },
    ]
    assert [row[SOURCE_ROW_COLUMN] for row in rows] == [1, 2]


def test_json_records_path(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: data.items")
    document = {"meta": {"page": 1}, "data": {"count": 2, "items": [{"id": 1, "x": {"y": "a"}}, {"id": 2}]}}
    write(data(tmp_path, "a.json"), json.dumps(document))
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "x_y"]
    assert business(rows) == [{"id": "1", "x_y": "a"}, {"id": "2", "x_y": None}]


def test_json_object_without_records_path_is_an_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = write(data(tmp_path, "a.json"), json.dumps({"data": [{"id": 1}]}))
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value) == (
        f"{path}: the file is a JSON object; set records_path to the list of records inside it"
    )


def test_missing_records_path_is_named(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: data.nope")
    path = write(data(tmp_path, "a.json"), json.dumps({"data": {"items": [{"id": 1}]}}))
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value) == f"{path}: records_path 'data.nope' is not in the file"


def test_records_path_that_is_not_a_list(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: meta")
    write(data(tmp_path, "a.json"), json.dumps({"meta": {"page": 1}, "data": []}))
    with pytest.raises(ExtractError, match="records_path 'meta' is a map, not a list"):
        run(loaded, tmp_path)


def test_invalid_json_file_is_an_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = write(data(tmp_path, "a.json"), '[{"id": 1}, {"id": ')
    with pytest.raises(ExtractError, match="invalid JSON") as caught:
        run(loaded, tmp_path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_numbers_keep_their_digits(tmp_path: Path, suffix: str) -> None:
    loaded = pipeline(tmp_path, {"amount": "decimal"})
    record = '{"amount": 12345678901234567.89}'
    write(data(tmp_path, f"a{suffix}"), f"[{record}]" if suffix == ".json" else record + "\n")
    _, rows = run(loaded, tmp_path)
    assert rows[0]["amount"] == "12345678901234567.89"


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_with_a_broken_line(tmp_path: Path, suffix: str) -> None:
    loaded = pipeline(tmp_path)
    path = write(
        data(tmp_path, f"events{suffix}"),
        '{"id": 1, "kind": "a"}\n{"id": 2, "kind": \n\n{"id": 4, "kind": "d", "extra": {"k": 1}}\n',
    )
    result, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "kind": "a", "extra_k": None}, {"id": "4", "kind": "d", "extra_k": "1"}]
    assert [row[SOURCE_ROW_COLUMN] for row in rows] == [1, 4]  # line numbers; the blank line counts
    assert [(f.rows, f.malformed) for f in result.files] == [(2, 1)]
    assert result.malformed == 1
    [reject] = rejects(result)
    assert reject["source"] == str(path)
    assert reject["source_row"] == 2
    assert reject["raw_record"] == {"line": '{"id": 2, "kind": '}
    assert reject["reason"].startswith("invalid JSON")


def test_json_lines_value_that_is_not_an_object(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.jsonl"), '{"id": 1}\n[1, 2]\n')
    result, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1"}]
    [reject] = rejects(result)
    assert (reject["source_row"], reject["reason"]) == (2, "record is not a JSON object")


# --- gzip --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.csv.gz", "id,name\n1,Anna\n2,Ben\n"),
        ("a.json.gz", '[{"id": 1, "name": "Anna"}, {"id": 2, "name": "Ben"}]'),
        ("a.jsonl.gz", '{"id": 1, "name": "Anna"}\n{"id": 2, "name": "Ben"}\n'),
        ("a.tsv.gz", "id\tname\n1\tAnna\n2\tBen\n"),
    ],
)
def test_gzipped_files(tmp_path: Path, name: str, text: str) -> None:
    loaded = pipeline(tmp_path)
    path = data(tmp_path, name)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    files, skipped = ex.list_source_files(loaded)
    assert [f.path for f in files] == [path] and skipped == []
    result = check_pipeline(loaded, tmp_path / "staging", keep_rows=0)
    rows = read_staging(result.staging_path)
    assert business(rows) == [{"id": "1", "name": "Anna"}, {"id": "2", "name": "Ben"}]
    assert {row[SOURCE_COLUMN] for row in rows} == {str(path)}


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
    assert list(rows[0]) == ["id", "name", SOURCE_COLUMN, SOURCE_ROW_COLUMN]
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


def test_empty_csv_values_are_null(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.csv"), 'id,a,b\n1,,""\n')
    _, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "a": None, "b": None}]


def test_source_file_and_row_on_every_staging_row(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    first = write(data(tmp_path, "a.csv"), "id\n1\n2\n")
    second = write(data(tmp_path, "b.jsonl"), '{"id": 3}\n{"id": 4}\n{"id": 5}\n')
    result, rows = run(loaded, tmp_path)
    assert [(row["id"], row[SOURCE_COLUMN], row[SOURCE_ROW_COLUMN]) for row in rows] == [
        ("1", str(first), 1),
        ("2", str(first), 2),
        ("3", str(second), 1),
        ("4", str(second), 2),
        ("5", str(second), 3),
    ]
    assert [(f.path, f.rows, f.malformed) for f in result.files] == [(str(first), 2, 0), (str(second), 3, 0)]
    assert result.rows_extracted == 5


# --- file listing ------------------------------------------------------------------------------------


def test_unknown_suffixes_are_skipped(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    csv_file = write(data(tmp_path, "b.csv"), "id\n1\n")
    json_file = write(data(tmp_path, "a.json"), '[{"id": 2}]')
    notes = write(data(tmp_path, "notes.md"), "hello")
    parquet = write(data(tmp_path, "c.parquet"), "PAR1")
    write(data(tmp_path, ".hidden.swp"), "x")
    (tmp_path / "data" / "sub.csv").mkdir()
    files, skipped = ex.list_source_files(loaded)
    assert [f.path for f in files] == [json_file, csv_file]
    assert [f.format for f in files] == ["json", "csv"]
    assert skipped == [str(parquet), str(notes)]


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


# --- bounded reading ---------------------------------------------------------------------------------


def _big_csv(path: Path, rows: int, width: int) -> None:
    filler = "x" * width
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,filler\n" + "".join(f"{i},{filler}\n" for i in range(1, rows + 1)), encoding="utf-8")


def test_large_csv_is_read_in_several_batches(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    _big_csv(data(tmp_path, "big.csv"), 120_000, 30)  # ~4.4 MB, more than one 4 MiB read block
    [source_file], _ = ex.list_source_files(loaded)
    batches = list(ex.iter_file_batches(source_file))
    assert len(batches) > 1
    numbers = pa.chunked_array([b.row_numbers for b in batches]).to_pylist()
    assert numbers == list(range(1, 120_001))
    ids = pa.chunked_array([b.table.column("id") for b in batches])
    assert ids[0].as_py() == "1" and ids[-1].as_py() == "120000"
    assert all(not b.malformed for b in batches)


def test_csv_batches_hold_at_most_batch_rows(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    _big_csv(data(tmp_path, "big.csv"), 120_000, 1)
    [source_file], _ = ex.list_source_files(loaded)
    sizes = [b.table.num_rows for b in ex.iter_file_batches(source_file)]
    assert sum(sizes) == 120_000
    assert max(sizes) <= BATCH_ROWS


def test_source_columns_named_like_bookkeeping_columns_are_left_out(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id,_elt_row_hash,_elt_run_id\n1,abc,old-run\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging")
    assert report.columns == ["id"]


def test_a_broken_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ExtractError, match=r"a\.csv\.gz: can't read the file"):
        check_pipeline(pipeline(tmp_path), tmp_path / "staging")


def test_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.json").write_bytes(b'\xef\xbb\xbf[{"id": 1}, {"id": 2}]')
    with gzip.open(tmp_path / "data" / "b.json.gz", "wb") as handle:
        handle.write(b'\xef\xbb\xbf[{"id": 3}]')
    report = check_pipeline(pipeline(tmp_path, source_options="encoding: utf-8-sig"), tmp_path / "staging")
    assert report.rows_valid == 3


def test_keys_that_flatten_to_one_column_are_quarantined_not_overwritten(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.jsonl", '{"a_b": 1, "a": {"b": 2}}\n{"a_b": 3}\n')
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["a_b"] for row in report.first_rows] == ["3"]
    assert report.rejected == 1 and "a_b" in report.first_rejects[0]["reason"]


def test_text_with_a_nul_character_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"id,name\n1,ok\n2,bad\x00name\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["name"] for row in report.first_rows] == ["ok"]
    assert "NUL" in report.first_rejects[0]["reason"]
