"""Hostile files (issue 21, items 8 and 9): a record over the size cap, a header of a million columns, a broken
gzip, an all-NUL header, UTF-16 without a byte order mark, JSON syntax errors. Each ends in rows with the bad record
quarantined, or in one line naming the file and what is wrong; never a traceback, never gigabytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from elt_dagster.engine.config import load_config
from elt_dagster.engine.dry_run import CheckReport, check_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.sources.files.readers import MAX_RECORD_CHARS
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults
SUITE = "hostile files"


def _check(tmp_path: Path, source_options: str = "", schema: str = "") -> CheckReport:
    config = f"sources:\n  - type: local\n    path: data\n{source_options}target:\n  table: t\n{schema}"
    return check_pipeline(load_config(write(tmp_path / "p.yaml", config)), tmp_path / "staging", keep_rows=10)


def _one_line_error(tmp_path: Path, path: Path, case: str, source_options: str = "", schema: str = "") -> str:
    with pytest.raises(PipelineError) as caught:
        _check(tmp_path, source_options, schema)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and "Traceback" not in message
    record(SUITE, case, "one-line error naming the file")
    return message


def _with_a_huge_string(path: Path, before: str, after: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(before)
        for _ in range(MAX_RECORD_CHARS // (1 << 20) + 1):
            handle.write("x" * (1 << 20))
        handle.write(after)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_record_over_the_real_cap_is_quarantined_and_the_others_load(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / "data" / f"big{suffix}"
    if suffix == ".json":
        _with_a_huge_string(path, '[{"id": 1},\n{"id": 2, "big": "', '"},\n{"id": 3}]')
    else:
        _with_a_huge_string(path, '{"id": 1}\n{"id": 2, "big": "', '"}\n{"id": 3}\n')
    report = _check(tmp_path)
    assert [row["id"] for row in report.first_rows] == ["1", "3"] and report.rejected == 1
    [reject] = report.first_rejects
    assert reject["source"] == str(path) and reject["source_row"] == 2
    assert reject["reason"] == "larger than the 16,777,216-character cap of a record (line 2)"
    record(SUITE, f"a {suffix} record over 16 MB", "loaded, the record quarantined")


def test_a_csv_header_of_a_million_columns_is_one_line_even_in_strict_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "data" / "wide.csv", ",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    schema = "schema:\n  strict_mode: true\n  columns:\n    c1: text\n"
    message = _one_line_error(tmp_path, path, "a CSV header of 1,000,000 columns", schema=schema)
    assert "a table holds at most 1,600 columns" in message


def test_a_corrupted_gzip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "a.csv.gz"
    path.parent.mkdir()
    content = bytearray(gzip.compress(b"id,n\n" + b"".join(b"%d,%d\n" % (i, i * 7919 % 1000) for i in range(20000))))
    content[10] ^= 0xFF
    path.write_bytes(bytes(content))
    assert "decompressing data" in _one_line_error(tmp_path, path, "a corrupted .gz")


def test_an_all_nul_csv_header_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data" / "a.csv"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x00\x00\x00\n1\n")
    assert "NUL bytes" in _one_line_error(tmp_path, path, "an all-NUL CSV header")


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_utf16_without_a_byte_order_mark_is_one_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / "data" / f"a{suffix}"
    path.parent.mkdir()
    text = {".csv": "id,name\n1,a\n", ".json": '[{"id": 1}]', ".jsonl": '{"id": 1}\n'}[suffix]
    path.write_bytes(text.encode("utf-16-le"))
    message = _one_line_error(tmp_path, path, f"utf-16 without BOM ({suffix})", "    encoding: utf-16\n")
    assert message.endswith("a file without a byte order mark needs utf-16-le or utf-16-be")


@pytest.mark.parametrize(
    "document",
    [
        '[{"id": 1}, {"id": ',
        '[{"id": 1} {"id": 2}]',
        '[{"id": 1}]]',
        '[{"id": "\x00"}]',
        '[{"id": 1, "name": "' + "x" * 100_000,
        '[{"id": 1}, {id: 2}]',
        '[{"id": 1.2.3}]',
        "[\xff\xfe]",
    ],
)
def test_a_json_syntax_error_is_one_line_with_where_and_a_short_excerpt(tmp_path: Path, document: str) -> None:
    path = write(tmp_path / "data" / "a.json", document)
    message = _one_line_error(tmp_path, path, f"JSON syntax error {document[:12]!r}")
    assert message.startswith(f"{path}: invalid JSON: ") and " at line 1, column " in message
    assert len(message) < len(str(path)) + 150
