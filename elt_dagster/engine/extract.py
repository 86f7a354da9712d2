"""Extract: read every source file in bounded batches into one CSV staging file per run.

Column names are trimmed and matched to the declared schema columns case-insensitively; columns that the
schema does not declare keep their trimmed, lower-cased name (strict mode drops them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .config import LoadedConfig, LocalSource
from .readers import (
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
EXTRACT_REJECTS_FILE = "extract_rejects.jsonl"


@dataclass(frozen=True)
class SourceFile:
    """One file to read, with the source entry it came from."""

    path: Path
    source: LocalSource

    @property
    def format(self) -> str:
        return file_format(self.path)[0]


@dataclass
class FileReport:
    path: str
    rows: int = 0
    malformed: int = 0


@dataclass
class ExtractResult:
    """What extraction produced: the staging CSV, its columns and per-file counts."""

    staging_path: Path
    rejects_path: Path
    columns: list[str]
    files: list[FileReport] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)


def list_source_files(loaded: LoadedConfig) -> tuple[list[SourceFile], list[str]]:
    """The files each local source names, in path order, and the ones skipped for an unknown format."""
    files: list[SourceFile] = []
    skipped: list[str] = []
    for source in loaded.config.sources:
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
    on a row with the wrong number of fields, and the file is then read again with `exact=True`.
    """
    source, path = source_file.source, source_file.path
    fmt = source_file.format
    if fmt in ("csv", "txt"):
        reader = iter_delimited_exact if exact else iter_delimited
        return reader(path, delimiter=source.delimiter, encoding=source.encoding)
    if fmt == "jsonl":
        return iter_jsonl(path, encoding=source.encoding)
    return iter_json(path, encoding=source.encoding, records_path=source.records_path)


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
        if self.strict or not key:
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
            src = source_file.source
            mapper.observe(read_header(source_file.path, delimiter=src.delimiter, encoding=src.encoding))
        else:
            for batch in iter_file_batches(source_file):
                mapper.observe(batch.table.column_names)


def extract(loaded: LoadedConfig, files: list[SourceFile], staging_dir: Path) -> ExtractResult:
    """Read `files` into `staging_dir/extracted.csv`: the pipeline's columns plus source file and record number."""
    schema = loaded.config.schema_
    declared = list(schema.columns) if schema else []
    mapper = ColumnMapper(declared, strict=bool(schema and schema.strict_mode))
    if not mapper.strict:
        _discover_columns(files, mapper)
    if not mapper.columns:
        raise ExtractError(f"{loaded.path}: no columns found in the sources and none declared in schema.columns")
    staging_dir.mkdir(parents=True, exist_ok=True)
    result = ExtractResult(
        staging_path=staging_dir / STAGING_FILE,
        rejects_path=staging_dir / EXTRACT_REJECTS_FILE,
        columns=list(mapper.columns),
    )
    out_schema = pa.schema(
        [(name, pa.string()) for name in result.columns]
        + [(SOURCE_COLUMN, pa.string()), (SOURCE_ROW_COLUMN, pa.int64())]
    )
    with (
        result.staging_path.open("wb") as sink,
        pacsv.CSVWriter(sink, out_schema) as writer,
        result.rejects_path.open("w", encoding="utf-8") as rejects,
    ):
        for source_file in files:
            mark = sink.tell()
            try:
                report = _extract_file(source_file, mapper, out_schema, writer, rejects, exact=False)
            except MalformedRowsFound:
                sink.seek(mark)  # drop what the fast reader wrote of this file, read it again exactly
                sink.truncate()
                report = _extract_file(source_file, mapper, out_schema, writer, rejects, exact=True)
            result.files.append(report)
    return result


def _extract_file(
    source_file: SourceFile,
    mapper: ColumnMapper,
    out_schema: pa.Schema,
    writer: pacsv.CSVWriter,
    rejects,
    exact: bool,
) -> FileReport:
    report = FileReport(path=str(source_file.path))
    for batch in iter_file_batches(source_file, exact=exact):
        table = _conform(batch, mapper, source_file.path, out_schema)
        if table.num_rows:
            writer.write_table(table)
        report.rows += table.num_rows
        report.malformed += len(batch.malformed)
        _write_malformed(rejects, batch.malformed, report.path)
    return report


def _conform(batch: RawBatch, mapper: ColumnMapper, path: Path, out_schema: pa.Schema) -> pa.Table:
    by_target: dict[str, pa.ChunkedArray] = {}
    for name, column in zip(batch.table.column_names, batch.table.columns, strict=True):
        target = mapper.target_name(name)
        if target is None:
            continue
        if target in by_target:
            raise ExtractError(
                f"{path}: columns {name!r} and another one both map to {target!r} (names match case-insensitively)"
            )
        by_target[target] = column
    rows = batch.table.num_rows
    arrays = [by_target.get(name, pa.nulls(rows, pa.string())) for name in out_schema.names[:-2]]
    source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([str(path)])).cast(pa.string())
    return pa.Table.from_arrays([*arrays, source, batch.row_numbers], schema=out_schema)


def _write_malformed(handle, malformed: list[Malformed], source: str) -> None:
    for item in malformed:
        record = {
            "raw_record": {"line": item.raw},
            "column": None,
            "reason": item.reason,
            "source": source,
            "source_row": item.row,
        }
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
