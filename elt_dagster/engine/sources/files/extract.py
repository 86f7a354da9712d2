"""Extract: list the source files, map their columns (see `columns`), and read each in bounded batches into the
staging files."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from elt_dagster.engine.config import LoadedConfig, LocalSource
from elt_dagster.engine.config.column_sources import column_sources
from elt_dagster.engine.redaction import mask_values
from elt_dagster.engine.sources.files.columns import ColumnMapper
from elt_dagster.engine.sources.files.delimited import (
    MalformedRowsFound,
    iter_delimited,
    iter_delimited_exact,
    read_header,
)
from elt_dagster.engine.sources.files.excel import SHEET_FORMATS, iter_sheet, read_sheet_header
from elt_dagster.engine.sources.files.json_records import iter_json, iter_jsonl
from elt_dagster.engine.sources.files.parquet import iter_parquet, parquet_columns
from elt_dagster.engine.sources.files.readers import ExtractError, Malformed, RawBatch, file_format
from elt_dagster.engine.staging import StagingWriter


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
        """What `_elt_source` says for its rows, and what messages call it: the file path (values from the
        environment masked), or the API's URL without credentials."""
        return self.label or str(self.path)

    def shown(self, text: str) -> str:
        """`text` (a reader's message) naming the file by its label rather than its path."""
        return text.replace(str(self.path), self.label) if self.label else text


@dataclass
class FileReport:
    path: str
    rows: int = 0
    malformed: int = 0


def list_source_files(loaded: LoadedConfig) -> tuple[list[SourceFile], list[str]]:
    """The files the local sources name, oldest first (then by path), and the ones skipped for an unknown format.

    Each file is labelled by its path with the config's values from the environment masked (a `${TOKEN}` in
    `path:`): the label is what its rows' `_elt_source`, its rejects, the reports and the messages show.
    """
    files: list[SourceFile] = []
    skipped: list[Path] = []
    for source in loaded.config.sources:
        if source.type != "local":
            continue
        root = source.resolved_path(loaded.base_dir)
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            pattern = source.file_pattern(loaded.config.partitions is not None)
            candidates = sorted(p for p in root.glob(pattern) if p.is_file())
        else:
            shown = mask_values(str(root), loaded.env_secrets)
            raise ExtractError(f"{shown}: the source path does not exist (from {loaded.path})")
        readable = [path for path in candidates if file_format(path)[0]]
        labels = masked_paths(readable, loaded.env_secrets)
        files += [SourceFile(path, source, label) for path, label in zip(readable, labels, strict=True)]
        skipped += [path for path in candidates if not file_format(path)[0] and not path.name.startswith(".")]
    # Oldest first, so that in merge mode the newest file's row for a key wins (ties: path order).
    files.sort(key=lambda f: (_modified(f), str(f.path)))
    return files, masked_paths(skipped, loaded.env_secrets)


def masked_paths(paths: list[Path], secrets: frozenset[str]) -> list[str]:
    """Each path as text with `secrets` masked; in one pass over all of them (a secret's forms are worked out once,
    not per file: 100,000 files)."""
    texts = [str(path) for path in paths]
    if not secrets or not texts:
        return texts
    return mask_values("\0".join(texts), secrets).split("\0")  # no path, and no environment value, holds a NUL


def _modified(source_file: SourceFile) -> int:
    """When the file was last written; a file gone since it was listed is an ExtractError naming it by its label."""
    try:
        return source_file.path.stat().st_mtime_ns
    except OSError as exc:
        raise ExtractError(f"{source_file.source_label}: can't read the file ({exc.strerror or exc})") from None


def iter_file_batches(source_file: SourceFile, exact: bool = False) -> Iterator[RawBatch]:
    """Bounded batches of one file's records, whatever its format.

    A delimited file is read with the fast reader unless `exact`; the fast reader raises MalformedRowsFound
    on a row with the wrong number of fields, and the file is then read again with `exact=True`. A file that can't
    be read at all (a broken .gz, an unknown encoding, no permission) is an ExtractError naming it.
    """
    source, path = source_file.source or LocalSource(path=str(source_file.path)), source_file.path
    fmt = source_file.format
    if fmt in SHEET_FORMATS or source.sheet_keys:  # sheet keys on another file: iter_sheet refuses it
        batches = iter_sheet(path, source)
    elif fmt in ("csv", "txt"):
        reader = iter_delimited_exact if exact else iter_delimited
        batches = reader(path, delimiter=source.delimiter, encoding=source.encoding)
    elif fmt == "jsonl":
        batches = iter_jsonl(path, encoding=source.encoding)
    elif fmt == "parquet":
        batches = iter_parquet(path)
    else:
        batches = iter_json(path, encoding=source.encoding, records_path=source.records_path)
    try:
        yield from batches
    except ExtractError as exc:
        raise ExtractError(source_file.shown(str(exc))) from None
    except (OSError, EOFError, LookupError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ExtractError(f"{source_file.source_label}: can't read the file ({reason})") from None


def _discover_columns(files: list[SourceFile], mapper: ColumnMapper) -> None:
    """The columns of `files` into `mapper`: a delimited file's header, a Parquet file's schema (names and types,
    no row read), the records of a JSON file."""
    for source_file in files:
        if source_file.format in SHEET_FORMATS:
            mapper.observe(_sheet_header(source_file), source_file.source_label)
        elif source_file.format in ("csv", "txt", "parquet"):
            src = source_file.source or LocalSource(path=str(source_file.path))
            try:
                if source_file.format == "parquet":
                    names, types = _unzipped(parquet_columns(source_file.path))
                else:
                    header = read_header(source_file.path, delimiter=src.delimiter, encoding=src.encoding)
                    names, types = header, None
            except ExtractError as exc:
                raise ExtractError(source_file.shown(str(exc))) from None
            mapper.observe(names, source_file.source_label, types)
        else:
            for batch in iter_file_batches(source_file):
                mapper.observe(batch.table.column_names, source_file.source_label)


def _sheet_header(source_file: SourceFile) -> list[str]:
    """A workbook sheet's column names: its header row only."""
    try:
        return read_sheet_header(source_file.path, source_file.source or LocalSource(path=str(source_file.path)))
    except ExtractError as exc:
        raise ExtractError(source_file.shown(str(exc))) from None


def _unzipped(columns: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [name for name, _ in columns], [kind for _, kind in columns]


_WHERE_IN_RECORD = re.compile(r" \(line \d+\)| at column \d+| \((?:0x[0-9a-f]{2}(?:, )?)+\)")
"""The parts of a malformed record's reason that differ from record to record: left out of its kind."""


def malformed_rejects(malformed: list[Malformed], source: str) -> list[dict]:
    """Reject records for rows that could not be parsed into columns; the reason's kind without the line, column
    or bytes it names (`expected 3 fields, found 4`, `invalid JSON: Expecting value`)."""
    return [
        {
            "raw_record": {"line": m.raw},
            "column": None,
            "reason": m.reason,
            "reason_kind": _WHERE_IN_RECORD.sub("", m.reason),
            "value": None,
            "source": source,
            "source_row": m.row,
        }
        for m in malformed
    ]


def schema_mapper(loaded: LoadedConfig) -> ColumnMapper:
    """A column mapper of the declared columns, their `from` names, `normalize_names` and the key columns."""
    schema, target = loaded.config.schema_, loaded.config.target
    keys = {"target.primary_key": target.primary_key, "target.order_by": [target.order_by] if target.order_by else []}
    if schema is None:
        return ColumnMapper([], strict=False, keys=keys)
    sources = column_sources(schema.rules)
    return ColumnMapper(list(schema.columns), schema.strict_mode, sources, schema.normalize_names, keys)


def new_mapper(loaded: LoadedConfig, files: list[SourceFile]) -> ColumnMapper:
    """The column mapper for a run: declared columns, plus (unless strict) those found in `files`."""
    mapper = schema_mapper(loaded)
    if not mapper.strict:
        _discover_columns(files, mapper)
    if files and not mapper.columns:
        shown = ", ".join(f.source_label for f in files[:3]) + (", ..." if len(files) > 3 else "")
        raise ExtractError(
            f"{shown}: no columns found (empty, or not one record could be read) and none declared in "
            f"schema.columns of {loaded.path}: declare the columns to quarantine unreadable records"
        )
    return mapper


class StagedFile:
    """One source file read into the run's staging files, batch by batch, counting its rows as it goes.

    `batches(exact)` can start again: a delimited file with malformed rows is read a second time by the exact
    reader (see `read_file_with_fallback`), and its report and staged rows start from scratch.
    """

    def __init__(self, source_file: SourceFile, mapper: ColumnMapper, staging: StagingWriter):
        self.source_file, self.mapper, self.staging = source_file, mapper, staging
        self.report = FileReport(path=source_file.source_label)

    def batches(self, exact: bool) -> Iterator[tuple[pa.Table, int]]:
        """Conformed batches and their malformed counts; raises MalformedRowsFound when not `exact` and needed."""
        self.report = FileReport(path=self.source_file.source_label)
        label = self.source_file.source_label
        for batch in iter_file_batches(self.source_file, exact=exact):
            table = conform(batch, self.mapper, label, self.staging.schema)
            self.staging.write_rows(table)
            self.staging.write_rejects(malformed_rejects(batch.malformed, label))
            self.report.rows += table.num_rows
            self.report.malformed += len(batch.malformed)
            yield table, len(batch.malformed)


def read_file_with_fallback(
    source_file: SourceFile,
    mapper: ColumnMapper,
    staging: StagingWriter,
    consume: Callable[[Iterator[tuple[pa.Table, int]]], None],
) -> FileReport:
    """Stage one file, passing its batches to `consume`; a file with malformed rows is staged again exactly.

    `consume(batches)` gets an iterator of (batch, malformed count) and must use it up (or raise); it is called
    a second time, from scratch, when the fast reader finds malformed rows.
    """
    staged = StagedFile(source_file, mapper, staging)
    mark = staging.mark()
    try:
        consume(staged.batches(exact=False))
    except MalformedRowsFound:
        staging.rewind(mark)
        consume(staged.batches(exact=True))
    return staged.report


def conform(batch: RawBatch, mapper: ColumnMapper, source: str, out_schema: pa.Schema) -> pa.Table:
    """A file's batch in the run's columns (missing ones NULL), plus its source file and record numbers; a typed
    column (a Parquet file's) stays typed: `out_schema` gives the names."""
    targets = mapper.targets(batch.table.column_names, source)
    by_target = {target: column for target, column in zip(targets, batch.table.columns, strict=True) if target}
    rows = batch.table.num_rows
    arrays = [by_target.get(name, pa.nulls(rows, pa.string())) for name in out_schema.names[:-2]]
    source = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([source])).cast(pa.string())
    return pa.Table.from_arrays([*arrays, source, batch.row_numbers], names=out_schema.names)
