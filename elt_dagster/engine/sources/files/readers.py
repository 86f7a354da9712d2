"""Readers for local files: each yields bounded batches of string columns, never the whole file.

Every reader yields `RawBatch`es: a pyarrow table of string columns (names as in the file) and the
malformed records it had to skip, each with the reason and where it was.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.errors import PipelineError

BATCH_ROWS = 20_000
CSV_BLOCK_BYTES = 256 << 10
"""pyarrow's CSV reader reads about 32 blocks ahead: this bounds that to ~8 MB."""
SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".json", ".jsonl", ".ndjson")


class ExtractError(PipelineError):
    """A source file that can't be read at all; the message names the file and what is wrong."""


@dataclass
class Malformed:
    """A record that could not be parsed into columns."""

    raw: str
    reason: str
    row: int | None


@dataclass
class RawBatch:
    """Up to BATCH_ROWS records of one file, as string columns, plus the malformed records skipped."""

    table: pa.Table
    row_numbers: pa.Array
    malformed: list[Malformed] = field(default_factory=list)


def file_format(path: Path) -> tuple[str, bool]:
    """`(format, gzipped)` from the file name: `orders.csv.gz` -> `("csv", True)`."""
    name = path.name.lower()
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[:-3]
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in SUPPORTED_SUFFIXES:
        return "", gzipped
    return {".tsv": "txt", ".ndjson": "jsonl"}.get(suffix, suffix[1:]), gzipped


def _open_text(path: Path, gzipped: bool, encoding: str) -> IO[str]:
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 - closed by the wrapper
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


class _Utf8Bytes:
    """A binary reader over a text stream: ijson parses bytes, the file may be in another encoding."""

    def __init__(self, text: IO[str]):
        self._text = text

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes with read(0): it must not consume anything
            return b""
        return self._text.read(size if size is None or size < 0 else max(1, size // 4)).encode("utf-8")

    def close(self) -> None:
        self._text.close()


def _open_json_bytes(path: Path, gzipped: bool, encoding: str) -> IO[bytes] | _Utf8Bytes:
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        return gzip.open(path, "rb") if gzipped else open(path, "rb")
    return _Utf8Bytes(_open_text(path, gzipped, encoding))


def _sniff_delimiter(path: Path, gzipped: bool, encoding: str, fmt: str) -> str:
    if fmt == "csv":
        return ","
    with _open_text(path, gzipped, encoding) as handle:
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
        with _open_text(path, gzipped, encoding) as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ExtractError(f"{path}: can't read the header line: {exc}") from None
    except (OSError, EOFError, LookupError) as exc:  # a broken .gz, no permission, an unknown encoding
        raise ExtractError(f"{path}: can't read the file ({exc})") from None
    return header or []


class MalformedRowsFound(Exception):
    """The fast reader met a row with the wrong number of fields: re-read the file with `iter_delimited_exact`."""


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
    names = [f"__col{i}" for i in range(len(header))]
    found_malformed = False

    def on_invalid(row: Any) -> str:
        nonlocal found_malformed
        found_malformed = True
        return "error"

    read_options = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1,
        block_size=CSV_BLOCK_BYTES,
        encoding=_arrow_encoding(encoding),
        use_threads=False,  # the other core is busy: PostgreSQL is parsing the previous batch
    )
    parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    # A Python file object: pyarrow's own input streams read far ahead (a whole 100 MB file at once).
    stream = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 - closed below
    first_row = 1
    try:
        reader = pacsv.open_csv(stream, read_options, parse_options, convert_options)
        pending: list[pa.RecordBatch] = []
        for batch in itertools.chain(reader, [None]):  # None: the end, flush what is pending
            if batch is not None:
                pending.append(batch)
                if sum(b.num_rows for b in pending) < BATCH_ROWS:
                    continue
            if not pending:
                break
            table = pa.Table.from_batches(pending).combine_chunks()
            pending = []
            for offset in range(0, table.num_rows, BATCH_ROWS):
                part = table.slice(offset, BATCH_ROWS)
                numbers = pa.array(np.arange(first_row, first_row + part.num_rows, dtype=np.int64))
                yield RawBatch(part.rename_columns(header), numbers)
                first_row += part.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if found_malformed:
            raise MalformedRowsFound(str(path)) from None
        raise ExtractError(f"{path}: not a readable {fmt.upper()} file ({_short(exc)})") from None
    finally:
        stream.close()


def iter_delimited_exact(path: Path, *, delimiter: str | None, encoding: str) -> Iterator[RawBatch]:
    """Stream a CSV/TXT file with Python's csv module: slower, but knows every record's number.

    Used for files with malformed rows, which are kept aside with their record number and reason.
    """
    fmt, gzipped = file_format(path)
    delimiter = delimiter or _sniff_delimiter(path, gzipped, encoding, fmt)
    with _open_text(path, gzipped, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header:
                return
            records: list[list[str]] = []
            numbers: list[int] = []
            malformed: list[Malformed] = []
            number = 0
            for record in reader:
                if not record:
                    continue  # an empty line, as pyarrow skips them
                number += 1
                if len(record) == len(header):
                    records.append(record)
                    numbers.append(number)
                else:
                    reason = f"expected {len(header)} fields, found {len(record)}"
                    malformed.append(Malformed(raw=delimiter.join(record), reason=reason, row=number))
                if len(records) + len(malformed) >= BATCH_ROWS:
                    yield _records_batch(header, records, numbers, malformed)
                    records, numbers, malformed = [], [], []
            if records or malformed:
                yield _records_batch(header, records, numbers, malformed)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ExtractError(f"{path}: not a readable {fmt.upper()} file ({_short(exc)})") from None


def _records_batch(
    header: list[str], records: list[list[str]], numbers: list[int], malformed: list[Malformed]
) -> RawBatch:
    columns = {
        name: pa.array([r[i] if r[i] != "" else None for r in records], pa.string()) for i, name in enumerate(header)
    }
    return RawBatch(pa.table(columns), pa.array(numbers, pa.int64()), malformed)


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else encoding


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class FlattenCollision(ValueError):
    """Two keys of one record flatten to the same column name (`a_b` and `a.b`)."""


def flatten_record(
    record: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None
) -> dict[str, str | None]:
    """Nested objects become `parent_child` keys; lists stay JSON text; scalars become strings.

    Raises FlattenCollision when two keys would become one column: a value must never silently replace another.
    """
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flatten_record(value, f"{name}_", out)
            continue
        if name in out:
            raise FlattenCollision(f"two keys become the column {name!r} (a nested key and a flat one)")
        if value is None:
            out[name] = None
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_number)
        else:
            out[name] = str(value)
    return out


def records_to_table(records: list[dict[str, str | None]]) -> pa.Table:
    """String records as a table of string columns, in the order the keys first appear (missing keys: null)."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return pa.table({name: pa.array([r.get(name) for r in records], pa.string()) for name in columns})


def _batched_records(items: Iterator[tuple[int, Any, str | None]]) -> Iterator[RawBatch]:
    records: list[dict[str, str | None]] = []
    numbers: list[int] = []
    malformed: list[Malformed] = []
    for number, item, raw in items:
        if isinstance(item, dict):
            try:
                records.append(flatten_record(item))
                numbers.append(number)
            except FlattenCollision as exc:
                malformed.append(Malformed(raw=raw or json.dumps(item, default=str), reason=str(exc), row=number))
        elif isinstance(item, Malformed):
            malformed.append(item)
        else:
            malformed.append(
                Malformed(raw=raw or json.dumps(item, default=str), reason="record is not a JSON object", row=number)
            )
        if len(records) + len(malformed) >= BATCH_ROWS:
            yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)
            records, numbers, malformed = [], [], []
    if records or malformed:
        yield RawBatch(records_to_table(records), pa.array(numbers, pa.int64()), malformed)


def iter_jsonl(path: Path, *, encoding: str) -> Iterator[RawBatch]:
    """Stream a JSON Lines file: one object per line; a line that isn't one is kept aside as malformed."""
    _, gzipped = file_format(path)

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with _open_text(path, gzipped, encoding) as handle:
            try:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield number, json.loads(line, parse_float=Decimal), line.rstrip("\r\n")
                    except json.JSONDecodeError as exc:
                        yield (
                            number,
                            Malformed(raw=line.rstrip("\r\n"), reason=f"invalid JSON: {exc.msg}", row=number),
                            line,
                        )
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({_short(exc)})") from None

    yield from _batched_records(items())


def iter_json(path: Path, *, encoding: str, records_path: str | None) -> Iterator[RawBatch]:
    """Stream a JSON file: a top-level array of objects, or the array found at `records_path`."""
    import ijson

    _, gzipped = file_format(path)
    prefix = f"{records_path}.item" if records_path else "item"

    def items() -> Iterator[tuple[int, Any, str | None]]:
        with closing(_open_json_bytes(path, gzipped, encoding)) as handle:
            found = False
            try:
                for number, item in enumerate(ijson.items(handle, prefix), start=1):
                    found = True
                    yield number, item, None
            except ijson.JSONError as exc:
                if not found and _is_blank(path, gzipped):
                    raise ExtractError(f"{path}: the file is empty") from None
                raise ExtractError(f"{path}: invalid JSON ({_short(exc)})") from None
            except UnicodeDecodeError as exc:
                raise ExtractError(f"{path}: not {encoding} text ({_short(exc)})") from None
            if not found:
                _explain_missing_records(path, gzipped, encoding, records_path)

    yield from _batched_records(items())


def _is_blank(path: Path, gzipped: bool) -> bool:
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
        return not handle.read(4096).strip()


def _explain_missing_records(path: Path, gzipped: bool, encoding: str, records_path: str | None) -> None:
    import ijson

    with closing(_open_json_bytes(path, gzipped, encoding)) as handle:
        first = next(iter(ijson.parse(handle)), None)
    if first is None:
        raise ExtractError(f"{path}: the file is empty")
    kind = first[1]
    if records_path:
        if kind == "start_array":
            raise ExtractError(f"{path}: records_path {records_path!r} is set but the file is a JSON array")
        with closing(_open_json_bytes(path, gzipped, encoding)) as handle:
            for prefix, event, _ in ijson.parse(handle):
                if prefix == records_path:
                    if event == "start_array":
                        return  # an empty list: no records, not an error
                    kind = event.replace("start_", "")
                    raise ExtractError(f"{path}: records_path {records_path!r} is a {kind}, not a list")
        raise ExtractError(f"{path}: records_path {records_path!r} is not in the file")
    if kind == "start_map":
        raise ExtractError(f"{path}: the file is a JSON object; set records_path to the list of records inside it")
    if kind != "start_array":
        raise ExtractError(f"{path}: expected a JSON array of objects")
