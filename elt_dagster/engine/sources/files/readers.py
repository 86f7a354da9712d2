"""What the readers of local files share: their batch type, their errors, file formats and opening files.

Every reader (`delimited.py`, `json_records.py`, `parquet.py`) yields `RawBatch`es: a pyarrow table of string
columns (names as in the file) and the malformed records it had to skip, each with the reason and where it was; never
a whole file.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as pa

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.sources.sheet_keys import SHEET_SUFFIXES

BATCH_ROWS = 20_000
CSV_BLOCK_BYTES = 256 << 10
"""pyarrow's CSV reader reads about 32 blocks ahead: this bounds that to ~8 MB."""
MAX_RECORD_CHARS = 16 << 20
"""The largest record (a CSV row, a JSON Lines line, an element of a JSON array), and so the largest field, in
characters: a larger one is quarantined with its line, passed over a chunk at a time without being built."""
CHUNK_CHARS = 1 << 20
"""How much of a record over the cap is read at a time while passing over it."""
MAX_HEADER_CHARS = 1 << 20
"""The longest header line of a delimited file: 1,600 columns of 63-byte names fit ten times over."""
MAX_COLUMNS = 1600
"""A PostgreSQL table holds at most 1,600 columns: a header with more is refused before any row is read, a JSON
record with more is quarantined."""
SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", *SHEET_SUFFIXES)
NOT_GZIPPED = (".parquet", *SHEET_SUFFIXES)
"""Formats compressed inside the file: a `.parquet.gz` is not read (skipped as of an unknown format)."""


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
    if suffix not in SUPPORTED_SUFFIXES or (gzipped and suffix in NOT_GZIPPED):
        return "", gzipped
    return {".tsv": "txt", ".ndjson": "jsonl"}.get(suffix, suffix[1:]), gzipped


def open_text(path: Path, gzipped: bool, encoding: str, errors: str = "strict") -> IO[str]:
    """A file (gunzipped when `gzipped`) as text in `encoding`; undecodable bytes raise, or with
    `errors="surrogateescape"` stay as lone surrogates (see `undecodable_bytes`)."""
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115 - closed by the wrapper
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def undecodable_bytes(text: str, encoding: str) -> str | None:
    """Why `text` can't be stored when `surrogateescape` kept bytes in it that aren't text in `encoding`; else None."""
    found = [f"{ord(char) - 0xDC00:#04x}" for char in _ESCAPED_BYTE.findall(text)]
    if not found:
        return None
    return f"bytes that are not {encoding} text ({', '.join(found[:3])}): set the source's encoding if it is another"


def shown_bytes(text: str) -> str:
    """`text` with the undecodable bytes written as `\\xb8`, so it can be stored and shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def records_to_table(records: list[dict[str, str | None]]) -> pa.Table:
    """String records as a table of string columns, in the order the keys first appear (missing keys: null)."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return pa.table({name: pa.array([r.get(name) for r in records], pa.string()) for name in columns})


def encoding_hint(exc: BaseException, encoding: str) -> str:
    """A hint for a UTF-16/32 file without a byte order mark, which Python's `utf-16` can't read; else ''."""
    plain = encoding.lower().replace("-", "").replace("_", "")
    if isinstance(exc, UnicodeError) and plain in ("utf16", "utf32"):
        return f": a file without a byte order mark needs {encoding}-le or {encoding}-be"
    return ""


def short_error(exc: BaseException) -> str:
    """The first line of an error, at most 300 characters, for a message naming the file."""
    if isinstance(exc, UnicodeDecodeError):  # its position is in a chunk of the file, not the file's
        return f"{exc.encoding} can't decode the byte {exc.object[exc.start]:#04x}: {exc.reason}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
