"""Recognising files by suffix and opening them, gzipped or not."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.sources.files import extract as ex
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.files.helpers import business, data, pipeline, read_staging

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
    assert {row[staging.SOURCE_COLUMN] for row in rows} == {str(path)}


def test_a_broken_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ExtractError, match=r"a\.csv\.gz: can't read the file"):
        check_pipeline(pipeline(tmp_path), tmp_path / "staging")


# --- file listing ------------------------------------------------------------------------------------


def test_unknown_suffixes_are_skipped(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    csv_file = write(data(tmp_path, "b.csv"), "id\n1\n")
    json_file = write(data(tmp_path, "a.json"), '[{"id": 2}]')
    notes = write(data(tmp_path, "notes.md"), "hello")
    avro = write(data(tmp_path, "c.avro"), "Obj1")
    write(data(tmp_path, ".hidden.swp"), "x")
    (tmp_path / "data" / "sub.csv").mkdir()
    for path in (csv_file, json_file):
        os.utime(path, ns=(1_700_000_000_000_000_000,) * 2)  # the same time: path order
    files, skipped = ex.list_source_files(loaded)
    assert [f.path for f in files] == [json_file, csv_file]
    assert [f.format for f in files] == ["json", "csv"]
    assert skipped == [str(avro), str(notes)]
    os.utime(json_file, ns=(1_700_000_001_000_000_000,) * 2)  # newer: read last, so its rows win in merge mode
    assert [f.path for f in ex.list_source_files(loaded)[0]] == [csv_file, json_file]
