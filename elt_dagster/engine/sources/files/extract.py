"""Extract: read every source file in bounded batches into one CSV staging file per run.

Column names are trimmed and matched to the declared schema columns case-insensitively; columns that the
schema does not declare keep their trimmed, lower-cased name (strict mode drops them).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.config import LoadedConfig, LocalSource
from elt_dagster.engine.sources.files.readers import (
    ExtractError,
    Malformed,
    MalformedRowsFound,
    RawBatch,
    file_format,
    iter_delimited,
    iter_delimited_exact,
    iter_json,
    iter_jsonl,
    read_header,
)

SOURCE_COLUMN = "_elt_source"
SOURCE_ROW_COLUMN = "_elt_source_row"
STAGING_FILE = "extracted.csv"
REJECTS_FILE = "rejects.jsonl"
FIRST_REJECTS = 5


@dataclass(frozen=True)
class SourceFile:
    """One file to read, with the local source entry it came from (None for an API's spooled pages)."""

    path: Path
    source: LocalSource | None = None
    label: str | None = None

    @property
    def format(self) -> str:
        return file_format(self.path)[0]

    @property
    def source_label(self) -> str:
        """What `_elt_source` says for its rows: the file path, or the API's URL without credentials."""
        return self.label or str(self.path)


@dataclass
class FileReport:
    path: str
    rows: int = 0
    malformed: int = 0


def list_source_files(loaded: LoadedConfig) -> tuple[list[SourceFile], list[str]]:
    """The files each local source names, in path order, and the ones skipped for an unknown format."""
    files: list[SourceFile] = []
    skipped: list[str] = []
    for source in loaded.config.sources:
        if source.type != "local":
            continue
        root = source.resolved_path(loaded.base_dir)
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            candidates = sorted(p for p in root.glob(source.pattern) if p.is_file())
        else:
            raise ExtractError(f"{root}: the source path does not exist (from {loaded.path})")
        for path in candidates:
            if file_format(path)[0]:
                files.append(SourceFile(path=path, source=source))
            elif not path.name.startswith("."):
                skipped.append(str(path))
    return files, skipped


def iter_file_batches(source_file: SourceFile, exact: bool = False) -> Iterator[RawBatch]:
    """Bounded batches of one file's records, whatever its format.

    A delimited file is read with the fast reader unless `exact`; the fast reader raises MalformedRowsFound
    on a row with the wrong number of fields, and the file is then read again with `exact=True`. A file that can't
    be read at all (a broken .gz, an unknown encoding, no permission) is an ExtractError naming it.
    """
    source, path = source_file.source or LocalSource(path=str(source_file.path)), source_file.path
    fmt = source_file.format
    if fmt in ("csv", "txt"):
        reader = iter_delimited_exact if exact else iter_delimited
        batches = reader(path, delimiter=source.delimiter, encoding=source.encoding)
    elif fmt == "jsonl":
        batches = iter_jsonl(path, encoding=source.encoding)
    else:
        batches = iter_json(path, encoding=source.encoding, records_path=source.records_path)
    try:
        yield from batches
    except (OSError, EOFError, LookupError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ExtractError(f"{path}: can't read the file ({reason})") from None


class ColumnMapper:
    """Maps a source file's column names onto the pipeline's columns."""

    def __init__(self, declared: list[str], strict: bool):
        self.strict = strict
        self.columns: list[str] = list(declared)
        self._by_key = {name.lower(): name for name in declared}

    def target_name(self, source_name: str) -> str | None:
        key = source_name.strip().lstrip("\ufeff").strip().lower()
        if key in self._by_key:
            return self._by_key[key]
        if self.strict or not key or key.startswith("_elt_"):  # _elt_ columns are this tool's own (a re-export)
            return None
        self._by_key[key] = key
        self.columns.append(key)
        return key

    def observe(self, names: list[str]) -> None:
        for name in names:
            self.target_name(name)


def _discover_columns(files: list[SourceFile], mapper: ColumnMapper) -> None:
    for source_file in files:
        if source_file.format in ("csv", "txt"):
            src = source_file.source or LocalSource(path=str(source_file.path))
            mapper.observe(read_header(source_file.path, delimiter=src.delimiter, encoding=src.encoding))
        else:
            for batch in iter_file_batches(source_file):
                mapper.observe(batch.table.column_names)


class StagingWriter:
    """This run's staging files: the extracted rows as one CSV, and every rejected record as JSON Lines."""

    def __init__(self, folder: Path, columns: list[str]):
        folder.mkdir(parents=True, exist_ok=True)
        self.staging_path = folder / STAGING_FILE
        self.rejects_path = folder / REJECTS_FILE
        self.schema = pa.schema(
            [(name, pa.string()) for name in columns] + [(SOURCE_COLUMN, pa.string()), (SOURCE_ROW_COLUMN, pa.int64())]
        )
        self.first_rejects: list[dict] = []
        self._rows = self.staging_path.open("wb")
        self._csv = pacsv.CSVWriter(self._rows, self.schema)
        self._rejects = self.rejects_path.open("w", encoding="utf-8")

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._csv.close()
        self._rows.close()
        self._rejects.close()

    def write_rows(self, table: pa.Table) -> None:
        if table.num_rows:
            self._csv.write_table(table)

    def write_rejects(self, rejects: list[dict]) -> None:
        for reject in rejects:
            self._rejects.write(json.dumps(reject, ensure_ascii=False) + "\n")
            if len(self.first_rejects) < FIRST_REJECTS:
                self.first_rejects.append(reject)

    def flush(self) -> None:
        self._rows.flush()
        self._rejects.flush()

    def mark(self) -> tuple[int, int, int]:
        self._rejects.flush()
        return self._rows.tell(), self._rejects.tell(), len(self.first_rejects)

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Forget everything written since `mark` (a file that is read again)."""
        rows, rejects, first = mark
        self._rows.seek(rows)
        self._rows.truncate()
        self._rejects.seek(rejects)
        self._rejects.truncate()
        del self.first_rejects[first:]


def malformed_rejects(malformed: list[Malformed], source: str) -> list[dict]:
    """Reject records for rows that could not be parsed into columns."""
    return [
        {"raw_record": {"line": m.raw}, "column": None, "reason": m.reason, "source": source, "source_row": m.row}
        for m in malformed
    ]


def new_mapper(loaded: LoadedConfig, files: list[SourceFile]) -> ColumnMapper:
    """The column mapper for a run: declared columns, plus (unless strict) those found in `files`."""
    schema = loaded.config.schema_
    mapper = ColumnMapper(list(schema.columns) if schema else [], strict=bool(schema and schema.strict_mode))
    if not mapper.strict:
        _discover_columns(files, mapper)
    if files and not mapper.columns:
        raise ExtractError(f"{loaded.path}: no columns found in the sources and none declared in schema.columns")
    return mapper


def extracted_batches(
    source_file: SourceFile, mapper: ColumnMapper, staging: StagingWriter, exact: bool
) -> Iterator[tuple[pa.Table, int]]:
    """Read one file into conformed batches, writing them (and malformed records) to the staging files.

    Yields (batch, malformed count). Raises MalformedRowsFound when not `exact` and the file needs it.
    """
    for batch in iter_file_batches(source_file, exact=exact):
        table = conform(batch, mapper, source_file.source_label, staging.schema)
        staging.write_rows(table)
        staging.write_rejects(malformed_rejects(batch.malformed, source_file.source_label))
        yield table, len(batch.malformed)


def read_file_with_fallback(
    source_file: SourceFile, mapper: ColumnMapper, staging: StagingWriter, consume
) -> FileReport:
    """Stage one file, passing its batches to `consume`; a file with malformed rows is staged again exactly.

    `consume(batches)` gets an iterator of (batch, malformed count) and must use it up (or raise).
    """
    for exact in (False, True):
        mark = staging.mark()
        report = FileReport(path=source_file.source_label)

        def counted(exact: bool = exact, report: FileReport = report) -> Iterator[tuple[pa.Table, int]]:
            for table, malformed in extracted_batches(source_file, mapper, staging, exact):
                report.rows += table.num_rows
                report.malformed += malformed
                yield table, malformed

        try:
            consume(counted())
            return report
        except MalformedRowsFound:
            if exact:
                raise
            staging.rewind(mark)
    raise AssertionError("unreachable")


def conform(batch: RawBatch, mapper: ColumnMapper, source: str, out_schema: pa.Schema) -> pa.Table:
    """A file's batch in the run's columns (missing ones NULL), plus its source file and record numbers."""
    by_target: dict[str, pa.ChunkedArray] = {}
    for name, column in zip(batch.table.column_names, batch.table.columns, strict=True):
        target = mapper.target_name(name)
        if target is None:
            continue
        if target in by_target:
            raise ExtractError(
                f"{source}: columns {name!r} and another one both map to {target!r} (names match case-insensitively)"
            )
        by_target[target] = column
    rows = batch.table.num_rows
    arrays = [by_target.get(name, pa.nulls(rows, pa.string())) for name in out_schema.names[:-2]]
    source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([source])).cast(pa.string())
    return pa.Table.from_arrays([*arrays, source, batch.row_numbers], schema=out_schema)
