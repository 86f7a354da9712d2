"""CSV/TXT files: quoting, delimiters, encodings, malformed rows and bounded batches."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.sources.files import extract as ex
from elt_dagster.engine.sources.files.delimited import iter_delimited_exact, read_header
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, ExtractError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.files.helpers import business, data, pipeline, rejects, run

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
    assert [(row["id"], row[staging.SOURCE_ROW_COLUMN]) for row in rows] == [("1", 1), ("3", 3)]


def test_malformed_csv_row_has_its_record_number(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.csv"), "id,name\n1,a\n2,b,extra\n3,c\n")
    result, _ = run(loaded, tmp_path)
    [reject] = rejects(result)
    assert reject["source_row"] == 2


def test_empty_csv_values_are_null(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.csv"), 'id,a,b\n1,,""\n')
    _, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "a": None, "b": None}]


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


def test_csv_batches_hold_batch_rows_but_the_last(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    _big_csv(data(tmp_path, "big.csv"), 130_000, 1)
    [source_file], _ = ex.list_source_files(loaded)
    sizes = [b.table.num_rows for b in ex.iter_file_batches(source_file)]
    assert sizes == [BATCH_ROWS] * 6 + [10_000]  # no short batch between whole ones


def test_one_undecodable_byte_sets_only_its_record_aside(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    lines = [b"id,name"] + [f"{i},name {i}".encode() for i in range(1, 60)]
    lines[40] = b"40,Gr\xb8n"  # a byte that is not UTF-8, in record 40
    data(tmp_path, "a.csv").write_bytes(b"\n".join(lines) + b"\n")
    report, rows = run(loaded, tmp_path)
    assert (report.rows_extracted, report.rejected, len(rows)) == (58, 1, 58)
    (reject,) = rejects(report)
    assert reject["source_row"] == 40 and "0xb8" in reject["reason"] and "encoding" in reject["reason"]
    assert reject["raw_record"]["line"] == "40,Gr\\xb8n"


def test_a_header_only_file_without_a_final_newline_has_no_rows(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    data(tmp_path, "a.csv").write_text("id,name")
    report, rows = run(loaded, tmp_path)
    assert (report.rows_extracted, report.rejected, rows) == (0, 0, [])


def test_a_field_longer_than_a_block_is_read(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    long = "x" * 700_000
    data(tmp_path, "a.csv").write_text(f"id,name\n1,{long}\n2,b\n")
    report, rows = run(loaded, tmp_path)
    assert [len(row["name"]) for row in rows] == [700_000, 1] and report.rejected == 0


# --- size caps and unreadable headers ----------------------------------------------------------------


def test_a_csv_record_over_the_cap_is_quarantined_and_the_others_load(tmp_path: Path) -> None:
    quoted = '"' + ("y" * 900 + '""\n') * 10 + '"'  # 9 KB over ten lines, with escaped quotes
    path = write(tmp_path / "a.csv", f'id,text\n1,a\n2,{quoted}\n3,"b\nc"\n4,{"z" * 5000}\n5,d\n')
    batches = list(iter_delimited_exact(path, delimiter=",", encoding="utf-8", max_record_chars=1000))
    rows = [(row["id"], row["text"]) for batch in batches for row in batch.table.to_pylist()]
    assert rows == [("1", "a"), ("3", "b\nc"), ("5", "d")]
    cap = "larger than the 1,000-character cap of a record"
    assert [(m.row, m.reason) for b in batches for m in b.malformed] == [
        (2, f"{cap} (line 3)"),
        (4, f"{cap} (line 16)"),
    ]
    assert [n for b in batches for n in b.row_numbers.to_pylist()] == [1, 3, 5]


def test_a_csv_field_over_the_block_goes_to_the_exact_reader_and_is_quarantined_at_the_real_cap(tmp_path: Path) -> None:
    path = data(tmp_path, "a.csv")
    path.parent.mkdir()
    with path.open("w") as handle:
        handle.write('id,text\n1,a\n2,"')
        for _ in range(17):
            handle.write("y" * (1 << 20))
        handle.write('"\n3,c\n')
    result, rows = run(pipeline(tmp_path), tmp_path)
    assert [row["id"] for row in rows] == ["1", "3"]
    [reject] = rejects(result)
    assert (
        reject["source_row"] == 2
        and reject["reason"] == "larger than the 16,777,216-character cap of a record (line 3)"
    )


def test_a_header_of_a_million_columns_is_refused_in_one_line_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n")  # 9 MB
    probe = (
        "from pathlib import Path\n"
        "from elt_dagster.engine.sources.files.delimited import read_header\n"
        "from elt_dagster.engine.sources.files.readers import ExtractError\n"
        f"try:\n    read_header(Path({str(path)!r}), delimiter=None, encoding='utf-8')\n"
        "except ExtractError as exc:\n    print(exc)\n"
        # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak (pytest's)
        "print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    message, peak_mb = done.stdout.strip().splitlines()
    assert message == (
        f"{path}: the header line is longer than 1,048,576 characters (a table holds at most 1,600 columns): "
        "is it a delimited text file?"
    )
    assert int(peak_mb) < 250  # 1.77 GB before the header was capped


def test_a_header_of_more_columns_than_a_table_holds_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", ",".join(f"c{i}" for i in range(2000)) + "\n")
    with pytest.raises(ExtractError) as caught:
        read_header(path, delimiter=",", encoding="utf-8")
    assert str(caught.value) == f"{path}: the header has 2,000 columns; a PostgreSQL table holds at most 1,600"


@pytest.mark.parametrize(
    ("name", "content", "encoding", "what"),
    [
        (
            "a.csv",
            b"\x00\x00\x00\x00\n1\n",
            "utf-8",
            "the header line holds NUL bytes (\\x00): is it a utf-8 text file?",
        ),
        (
            "a.csv",
            "id,name\n1,a\n".encode("utf-16-le"),
            "utf-16",
            "can't read the header line: UTF-16 stream does not start with BOM: a file without a byte order mark "
            "needs utf-16-le or utf-16-be",
        ),
        (
            "a.csv.gz",
            b"",
            "utf-8",
            "can't read the file (Error -3 while decompressing data: invalid literal/length code)",
        ),
    ],
    ids=["all-NUL header", "utf-16 without BOM", "corrupted gzip"],
)
def test_an_unreadable_header_is_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes, encoding: str, what: str
) -> None:
    if name.endswith(".gz"):
        content = bytearray(
            gzip.compress(b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i * 7919 % 1000) for i in range(20000)))
        )
        content[10] ^= 0xFF  # the first byte of the deflate stream
    (tmp_path / name).write_bytes(bytes(content))
    with pytest.raises(ExtractError) as caught:
        read_header(tmp_path / name, delimiter=None, encoding=encoding)
    assert str(caught.value) == f"{tmp_path / name}: {what}"
