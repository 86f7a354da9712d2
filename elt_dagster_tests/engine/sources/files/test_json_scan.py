"""Reading JSON in linear time and bounded memory: records over the size cap quarantined unbuilt, doubling reads,
syntax errors as one line with the place and a short excerpt."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from elt_dagster.engine.sources.files.json_records import iter_json, iter_jsonl
from elt_dagster.engine.sources.files.json_scan import JsonText, Skipped
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import write

# --- size caps, linear time, clear parse errors --------------------------------------------------------


def _ids(batches: list) -> tuple[list[str], list[tuple[int | None, str]]]:
    ids = [value for batch in batches for value in batch.table.column("id").to_pylist()]
    return ids, [(m.row, m.reason) for batch in batches for m in batch.malformed]


@pytest.mark.parametrize("records_path", [None, "data.items"])
def test_a_json_record_over_the_cap_is_quarantined_and_the_others_load(tmp_path: Path, records_path: str) -> None:
    records = '[\n{"id": 1},\n{"id": 2, "big": "' + "x" * 5000 + '"},\n{"id": 3, "tags": [' + "7," * 3000 + "7]},\n"
    records += '{"id": 4}\n]'
    document = records if records_path is None else '{"data": {"n": "' + "y" * 3000 + '", "items": ' + records + "}}"
    path = write(tmp_path / "a.json", document)
    batches = list(iter_json(path, encoding="utf-8", records_path=records_path, max_record_chars=1000))
    cap = "larger than the 1,000-character cap of a record"
    assert _ids(batches) == (["1", "4"], [(2, f"{cap} (line 3)"), (3, f"{cap} (line 4)")])


def test_a_json_lines_value_over_the_cap_is_quarantined_and_the_others_load(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", '{"id": 1}\n{"id": 2, "big": "' + "x" * 5000 + '"}\n\n{"id": 4}\n')
    batches = list(iter_jsonl(path, encoding="utf-8", max_record_chars=1000))
    assert _ids(batches) == (["1", "4"], [(2, "larger than the 1,000-character cap of a record (line 2)")])
    assert batches[0].row_numbers.to_pylist() == [1, 4]


class _CountedReads(io.StringIO):
    def __init__(self, text: str):
        super().__init__(text)
        self.reads = 0

    def read(self, size: int | None = -1) -> str:
        self.reads += 1
        return super().read(size)


def test_a_record_over_the_cap_is_passed_over_holding_at_most_the_cap_and_a_chunk() -> None:
    text = JsonText(_CountedReads('{"big": "' + "x\\n" * 500_000 + '", "list": [[1]]} {"id": 2}'), chunk_chars=100)
    skipped = text.value(cap=1000)
    assert isinstance(skipped, Skipped) and "1,000-character cap" in skipped.reason
    assert text.peak <= 1000 + 2 * 100  # never the 1 MB record
    assert text.value(cap=1000) == {"id": 2}


def test_a_large_record_is_read_in_doubling_reads_not_rescanned_chunk_by_chunk() -> None:
    stream = _CountedReads('{"big": "' + "x" * 1_000_000 + '"} [1]')
    text = JsonText(stream, chunk_chars=100)
    assert len(text.value(cap=2_000_000)["big"]) == 1_000_000
    assert stream.reads <= 20  # 100 -> 1 MB in doublings; a read per chunk would be 10,000 parses of the prefix
    assert text.value(cap=2_000_000) == [1]


@pytest.mark.parametrize(
    ("document", "what"),
    [
        ('[{"id": 1}, {"id": ', "Expecting value at line 1, column 20"),
        ('[{"id": 1}\n {"id": 2}]', "expected ',' or ']', found '{' at line 2, column 2"),
        ('[{"id": 1}] [', "more text after the end of the JSON document at line 1, column 13"),
        ('[{"id": "a\x00b"}]', "Invalid control character at line 1, column 11"),
        ('[{"id": 1, "name": "' + "x" * 300_000, "Unterminated string starting at line 1, column 20"),
        ('{"data": {"items" [1]}}', "expected ':', found '[' at line 1, column 19"),
    ],
)
def test_a_json_syntax_error_is_one_line_naming_the_file_and_where(tmp_path: Path, document: str, what: str) -> None:
    path = write(tmp_path / "a.json", document)
    records_path = "data.items" if document.startswith("{") else None
    with pytest.raises(ExtractError) as caught:
        list(iter_json(path, encoding="utf-8", records_path=records_path))
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid JSON: {what} (near ")
    assert "\n" not in message and len(message) < len(str(path)) + 150  # a short escaped excerpt, never a dump


def test_a_json_record_with_more_keys_than_a_table_has_columns_is_quarantined(tmp_path: Path) -> None:
    wide = ", ".join(f'"k{i}": 1' for i in range(2000))
    path = write(tmp_path / "a.json", f'[{{"id": 1}}, {{"id": 2, {wide}}}]')
    batches = list(iter_json(path, encoding="utf-8", records_path=None))
    assert _ids(batches) == (["1"], [(2, "more than 1,600 columns (a PostgreSQL table holds at most 1,600)")])


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_an_integer_too_long_for_python_is_quarantined(tmp_path: Path, suffix: str) -> None:
    records = ['{"id": 1}', '{"id": 2, "n": ' + "9" * 200_000 + "}", '{"id": 3}']
    path = write(tmp_path / f"a{suffix}", "[" + ",\n".join(records) + "]" if suffix == ".json" else "\n".join(records))
    reader = (
        iter_json(path, encoding="utf-8", records_path=None)
        if suffix == ".json"
        else iter_jsonl(path, encoding="utf-8")
    )
    ids, malformed = _ids(list(reader))
    line = " (line 2)" if suffix == ".json" else ""
    assert ids == ["1", "3"] and malformed == [(2, f"a number of more than 4,300 digits{line}")]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_utf16_without_a_byte_order_mark_is_one_line_with_the_fix(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    path.write_bytes('[{"id": 1}]\n'.encode("utf-16-le"))
    reader = iter_json if suffix == ".json" else iter_jsonl
    with pytest.raises(ExtractError) as caught:
        list(reader(path, encoding="utf-16", **({"records_path": None} if suffix == ".json" else {})))
    assert str(caught.value) == (
        f"{path}: not utf-16 text (UTF-16 stream does not start with BOM): a file without a byte order mark needs "
        "utf-16-le or utf-16-be"
    )
