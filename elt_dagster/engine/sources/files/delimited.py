"""Delimited text (csv, txt, tsv): a fast pyarrow reader, and an exact one for files with malformed rows."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.sources.files.readers import (
    BATCH_ROWS,
    CSV_BLOCK_BYTES,
    ExtractError,
    Malformed,
    RawBatch,
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
    """The column names of a delimited file (its first record)."""
    fmt, gzipped = file_format(path)
    try:
        delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
        csv.field_size_limit(MAX_FIELD_BYTES)
        with open_text(path, gzipped, encoding, "surrogateescape") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ExtractError(f"{path}: can't read the header line: {exc}") from None
    except (OSError, EOFError, LookupError) as exc:  # a broken .gz, no permission, an unknown encoding
        raise ExtractError(f"{path}: can't read the file ({exc})") from None
    bad = undecodable_bytes("".join(header or []), encoding)
    if bad:
        raise ExtractError(f"{path}: the header line has {bad}")
    return header or []


_EXACT_READER_CASES = ("CSV parse error", "invalid UTF8", "Could not skip initial", "block size", "straddling")
"""pyarrow errors the exact reader handles: a row with the wrong number of fields, undecodable bytes, a header-only
file without a final newline, a field longer than pyarrow's block."""
MAX_FIELD_BYTES = 16 << 20
"""The longest field the exact reader accepts (Python's csv module stops at 128 KB by default)."""


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


def iter_delimited_exact(path: Path, *, delimiter: str | None, encoding: str) -> Iterator[RawBatch]:
    """Stream a CSV/TXT file with Python's csv module: slower, but knows every record's number.

    Used for files with malformed rows, which are kept aside with their record number and reason.
    """
    fmt, gzipped = file_format(path)
    delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
    csv.field_size_limit(MAX_FIELD_BYTES)
    with open_text(path, gzipped, encoding, "surrogateescape") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header:
                return
            records: list[list[str]] = []
            numbers: list[int] = []
            malformed: list[Malformed] = []
            number = undecodable = 0
            for record in reader:
                if not record:
                    continue  # an empty line, as pyarrow skips them
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
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ExtractError(f"{path}: not a readable {fmt.upper()} file ({short_error(exc)})") from None


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
