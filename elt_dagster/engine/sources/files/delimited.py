"""Delimited text (csv, txt, tsv): a fast pyarrow reader, and an exact one for files with malformed rows."""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.sources.files.readers import (
    BATCH_ROWS,
    CHUNK_CHARS,
    CSV_BLOCK_BYTES,
    MAX_COLUMNS,
    MAX_HEADER_CHARS,
    MAX_RECORD_CHARS,
    ExtractError,
    Malformed,
    RawBatch,
    encoding_hint,
    file_format,
    open_text,
    short_error,
    shown_bytes,
    undecodable_bytes,
)


def _sniff_delimiter(path: Path, gzipped: bool, encoding: str, fmt: str) -> str:
    if fmt == "csv":
        return ","
    with open_text(path, gzipped, encoding, "surrogateescape") as handle:
        sample = handle.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return "\t" if "\t" in sample else ","


def read_header(path: Path, *, delimiter: str | None, encoding: str) -> list[str]:
    """The column names of a delimited file (its first record), read in bounded memory."""
    fmt, gzipped = file_format(path)
    try:
        delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
        csv.field_size_limit(MAX_RECORD_CHARS)
        with open_text(path, gzipped, encoding, "surrogateescape") as handle:
            header = next(csv.reader(RecordLines(handle, MAX_HEADER_CHARS), delimiter=delimiter), None) or []
    except RecordTooLarge:
        raise ExtractError(
            f"{path}: the header line is longer than {MAX_HEADER_CHARS:,} characters "
            f"(a table holds at most {MAX_COLUMNS:,} columns): is it a delimited text file?"
        ) from None
    except (csv.Error, UnicodeError) as exc:
        raise ExtractError(
            f"{path}: can't read the header line: {short_error(exc)}{encoding_hint(exc, encoding)}"
        ) from None
    except (OSError, EOFError, LookupError, zlib.error) as exc:  # a broken .gz, no permission, an unknown encoding
        raise ExtractError(f"{path}: can't read the file ({short_error(exc)})") from None
    _check_header(path, header, encoding)
    return header


def _check_header(path: Path, header: list[str], encoding: str) -> None:
    if len(header) > MAX_COLUMNS:
        raise ExtractError(
            f"{path}: the header has {len(header):,} columns; a PostgreSQL table holds at most {MAX_COLUMNS:,}"
        )
    bad = undecodable_bytes("".join(header), encoding)
    if bad:
        raise ExtractError(f"{path}: the header line has {bad}")
    if any("\x00" in name for name in header):
        raise ExtractError(f"{path}: the header line holds NUL bytes (\\x00): is it a {encoding} text file?")


class RecordTooLarge(Exception):
    """A record goes on past the cap of `RecordLines`."""


class RecordLines:
    """A text stream's lines for `csv.reader`, one record at a time, never more than `cap` characters of a record.

    Past the cap, RecordTooLarge is raised out of the reader and `pass_over()` reads past the rest of the record a
    chunk at a time (it goes on while its double quotes are unbalanced), keeping nothing of it.
    """

    def __init__(self, handle: IO[str], cap: int):
        self.handle, self.cap = handle, cap
        self.size = self.quotes = self.lines = 0
        self.first_line = 1  # the line the current record starts on
        self.line_ended = True

    def start_record(self) -> None:
        self.size = self.quotes = 0
        self.first_line = self.lines + 1

    def __iter__(self) -> RecordLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(self.cap + 1 - self.size)
        if not line:
            raise StopIteration
        self._count(line)
        if self.size > self.cap:
            raise RecordTooLarge
        return line

    def _count(self, line: str) -> None:
        self.size += len(line)
        self.quotes += line.count('"')
        self.line_ended = line.endswith(("\n", "\r"))
        self.lines += self.line_ended

    def pass_over(self) -> None:
        """Read past the rest of the record that went over the cap."""
        while not self.line_ended or self.quotes % 2:
            line = self.handle.readline(CHUNK_CHARS)
            if not line:
                return
            self._count(line)


_EXACT_READER_CASES = ("CSV parse error", "invalid UTF8", "Could not skip initial", "block size", "straddling")
"""pyarrow errors the exact reader handles: a row with the wrong number of fields, undecodable bytes, a header-only
file without a final newline, a field longer than pyarrow's block."""


class MalformedRowsFound(Exception):
    """The fast reader met a row with the wrong number of fields: re-read the file with `iter_delimited_exact`."""


def _arrow_options(
    names: list[str], delimiter: str, encoding: str
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    read_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1,
        block_size=CSV_BLOCK_BYTES,
        encoding=_arrow_encoding(encoding),
        use_threads=False,  # the other core is busy: PostgreSQL is parsing the previous batch
    )
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    return read_options, parse_options, convert_options


def _rebatched(reader: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """pyarrow's blocks regrouped into tables of BATCH_ROWS rows (the last one shorter).

    The rows past the last whole batch wait for the next blocks: short batches cost their fixed per-batch work
    (tens of compute calls, a COPY) for few rows.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows < BATCH_ROWS:
            continue
        table = pa.Table.from_batches(pending).combine_chunks()
        whole = rows - rows % BATCH_ROWS
        for offset in range(0, whole, BATCH_ROWS):
            yield table.slice(offset, BATCH_ROWS)
        pending, rows = table.slice(whole).to_batches(), rows - whole
    if rows:
        yield pa.Table.from_batches(pending).combine_chunks()


def iter_delimited(path: Path, *, delimiter: str | None, encoding: str) -> Iterator[RawBatch]:
    """Stream a well-formed CSV/TXT file (optionally gzipped) as string batches, with pyarrow.

    Raises MalformedRowsFound at the first row with the wrong number of fields: pyarrow can't say where a
    skipped row was, so such a file is read again by `iter_delimited_exact`, which can.
    """
    fmt, gzipped = file_format(path)
    delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
    header = read_header(path, delimiter=delimiter, encoding=encoding)
    if not header:
        return
    options = _arrow_options([f"__col{i}" for i in range(len(header))], delimiter, encoding)
    # A Python file object: pyarrow's own input streams read far ahead (a whole 100 MB file at once).
    stream = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 - closed below
    first_row = 1
    try:
        for part in _rebatched(pacsv.open_csv(stream, *options)):
            numbers = pa.array(np.arange(first_row, first_row + part.num_rows, dtype=np.int64))
            yield RawBatch(part.rename_columns(header), numbers)
            first_row += part.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if isinstance(exc, UnicodeDecodeError) or any(case in str(exc) for case in _EXACT_READER_CASES):
            raise MalformedRowsFound(str(path)) from None  # the exact reader copes, record by record
        raise ExtractError(f"{path}: not a readable {fmt.upper()} file ({short_error(exc)})") from None
    finally:
        stream.close()


def iter_delimited_exact(
    path: Path, *, delimiter: str | None, encoding: str, max_record_chars: int = MAX_RECORD_CHARS
) -> Iterator[RawBatch]:
    """Stream a CSV/TXT file with Python's csv module: slower, but knows every record's number.

    Used for files with malformed rows, which are kept aside with their record number and reason; so is a record
    over `max_record_chars`, passed over without being built.
    """
    fmt, gzipped = file_format(path)
    delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
    csv.field_size_limit(MAX_RECORD_CHARS)  # Python's csv module stops at 128 KB by default
    with open_text(path, gzipped, encoding, "surrogateescape") as handle:
        lines = RecordLines(handle, max_record_chars)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header:
                return
            _check_header(path, header, encoding)
            records: list[list[str]] = []
            numbers: list[int] = []
            malformed: list[Malformed] = []
            number = undecodable = 0
            for record in _read_records(reader, lines):
                if record is None:
                    number += 1
                    reason = f"larger than the {max_record_chars:,}-character cap of a record (line {lines.first_line})"
                    malformed.append(Malformed(raw=f"({reason}: see the source file)", reason=reason, row=number))
                elif record:
                    number += 1
                    reason = _problem(record, header, encoding)
                    if reason is None:
                        records.append(record)
                        numbers.append(number)
                    else:
                        undecodable += reason.startswith("bytes")
                        malformed.append(Malformed(raw=shown_bytes(delimiter.join(record)), reason=reason, row=number))
                if len(records) + len(malformed) >= BATCH_ROWS:
                    yield _records_batch(header, records, numbers, malformed)
                    records, numbers, malformed = [], [], []
            if records or malformed:
                yield _records_batch(header, records, numbers, malformed)
            if undecodable > number // 2:  # most of the file: the encoding is wrong, not a few records
                raise ExtractError(
                    f"{path}: {undecodable} of {number} records are not {encoding} text: set the source's encoding (e.g. latin-1, cp1252)"
                )
        except (csv.Error, UnicodeError) as exc:
            hint = encoding_hint(exc, encoding)
            raise ExtractError(f"{path}: not a readable {fmt.upper()} file ({short_error(exc)}){hint}") from None


def _read_records(reader: Iterator[list[str]], lines: RecordLines) -> Iterator[list[str] | None]:
    """Each record of `reader`; None for one over the cap of `lines`, passed over without being built."""
    while True:
        lines.start_record()
        try:
            yield next(reader)
        except StopIteration:
            return
        except RecordTooLarge:
            lines.pass_over()
            yield None


def _problem(record: list[str], header: list[str], encoding: str) -> str | None:
    """Why a record can't be a row: the wrong number of fields, or bytes that aren't text in the encoding."""
    if len(record) != len(header):
        return f"expected {len(header)} fields, found {len(record)}"
    return undecodable_bytes("".join(record), encoding)


def _records_batch(
    header: list[str], records: list[list[str]], numbers: list[int], malformed: list[Malformed]
) -> RawBatch:
    columns = {
        name: pa.array([r[i] if r[i] != "" else None for r in records], pa.string()) for i, name in enumerate(header)
    }
    return RawBatch(pa.table(columns), pa.array(numbers, pa.int64()), malformed)


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else encoding
