"""Many small files in one run: read whole one after the other, then validated, encoded and copied a group at a
time, each row keeping its own file in `_elt_source`.

File by file, a 3-row file cost ~7 ms: a producer thread, a savepoint, a COPY, a fingerprint statement, a DDL for
its `_elt_source` (whose lock stayed until the commit: ~7,900 files exhausted PostgreSQL's lock table), and some
forty Arrow calls to validate three rows. In a group, each file costs its read and its staging; the rest is paid
once per group of up to `readers.BATCH_ROWS` rows. A large file is streamed as before, in a savepoint of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from elt_dagster.engine.load.base import LoadStrategy, Prepared
from elt_dagster.engine.names import SOURCE_COLUMN
from elt_dagster.engine.sources.files.columns import ColumnMapper
from elt_dagster.engine.sources.files.extract import FileReport, SourceFile, read_file_with_fallback
from elt_dagster.engine.sources.files.readers import BATCH_ROWS
from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.state.fingerprints import Fingerprint
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import check_batch

SMALL_FILE_BYTES = 1 << 20
"""A file of at most this size is read whole and loaded in a group; a larger one is streamed, batch by batch."""
GZIP_EXPANSION = 64
"""A gzipped file counts this many times its size: it is held whole once read, and may expand that much."""
GROUP_FILES = 5_000
"""At most this many files in a group (their fingerprints are one statement)."""


def is_small(path: Path, size: int) -> bool:
    """Whether the file at `path`, of `size` bytes, is read whole and loaded with others (see `SMALL_FILE_BYTES`)."""
    return size * (GZIP_EXPANSION if path.name.lower().endswith(".gz") else 1) <= SMALL_FILE_BYTES


def load_units(sources: list[SourceFile], sizes: dict[Path, int]) -> Iterator[SourceFile | list[SourceFile]]:
    """`sources` (of `sizes`) in their order: each large file alone, each run of consecutive small files as a list."""
    small: list[SourceFile] = []
    for source_file in sources:
        if is_small(source_file.path, sizes[source_file.path]):
            small.append(source_file)
            continue
        if small:
            yield small
            small = []
        yield source_file
    if small:
        yield small


def largest_label(sources: list[SourceFile], sizes: dict[Path, int]) -> str | None:
    """The `_elt_source` of the largest of `sources` (of `sizes`): the one a table's default holds (see `LoadContext`)."""
    return max(sources, key=lambda f: sizes[f.path]).source_label if sources else None


@dataclass
class FileGroup:
    """Small files read, validated and prepared together: their rows, reports and fingerprints to record."""

    prepared: Prepared | None
    reports: list[FileReport]
    fingerprints: list[tuple[Fingerprint, int]]
    """(fingerprint, rows) of each file that did not change while it was read."""
    valid: int = 0
    invalid: int = 0


@dataclass
class _ReadFile:
    label: str
    tables: list[pa.Table]
    report: FileReport
    fingerprint: Fingerprint | None

    @property
    def rows(self) -> int:
        return self.report.rows


class GroupReader:
    """Reads runs of small files into groups; runs in the producer thread (it writes the staging files)."""

    def __init__(
        self,
        mapper: ColumnMapper,
        staging: StagingWriter,
        checker: BatchChecker,
        loader: LoadStrategy,
        fingerprints: dict[str, Fingerprint],
    ):
        self.mapper, self.staging, self.checker, self.loader = mapper, staging, checker, loader
        self.fingerprints = fingerprints

    def groups(self, files: list[SourceFile]) -> Iterator[FileGroup]:
        """`files` in groups of up to `BATCH_ROWS` rows (or one file, if it has more) and `GROUP_FILES` files."""
        pending: list[_ReadFile] = []
        rows, labels = 0, set()
        for source_file in files:
            read = self._read(source_file)
            full = rows + read.rows > BATCH_ROWS or len(pending) >= GROUP_FILES
            # labels unique within a group: each reject is counted against its file by label (an API's may repeat)
            if pending and (full or read.label in labels):
                yield self._group(pending)
                pending, rows, labels = [], 0, set()
            pending.append(read)
            rows += read.rows
            labels.add(read.label)
        if pending:
            yield self._group(pending)

    def _read(self, source_file: SourceFile) -> _ReadFile:
        """One file read whole (again, exactly, if it has malformed rows) and staged."""
        fingerprint = self.fingerprints.get(str(source_file.path))
        # hashed before it is read, checked after: a file rewritten meanwhile is not recorded, so read again
        before = fingerprint.with_content_hash() if fingerprint else None
        tables: list[pa.Table] = []

        def collect(batches: Iterator[tuple[pa.Table, int]]) -> None:
            tables.clear()  # read again from scratch
            tables.extend(table for table, _malformed in batches)

        report = read_file_with_fallback(source_file, self.mapper, self.staging, collect)
        unchanged = before is not None and Fingerprint.stat(source_file.path).same_stat(before)
        return _ReadFile(source_file.source_label, tables, report, before if unchanged else None)

    def _group(self, files: list[_ReadFile]) -> FileGroup:
        """Validate the files' rows in one pass, give each valid row its file's label, prepare them for the loader."""
        group = FileGroup(None, [f.report for f in files], [(f.fingerprint, f.rows) for f in files if f.fingerprint])
        schema = self.staging.schema  # files typing a column differently (Parquet's) are grouped as text
        tables = [table.cast(schema) for f in files for table in f.tables if table.num_rows]
        if not tables:
            return group
        checker = self.checker
        checked = check_batch(pa.concat_tables(tables), checker.column_types, checker.key, checker.rules)
        self.staging.write_rejects(checked.rejects)
        group.valid, group.invalid = checked.rows.num_rows, len(checked.rejects)
        # valid rows keep their order: each file's are the next (its rows - its rejects)
        rejected = Counter(reject["source"] for reject in checked.rejects)
        valid = [f.rows - rejected[f.label] for f in files]
        if sum(valid) != checked.rows.num_rows or any(count < 0 for count in valid):
            raise RuntimeError("the rejected records of a group of files do not match their files")  # never expected
        owners = pa.array(np.repeat(np.arange(len(files), dtype=np.int32), valid))
        labels = pa.DictionaryArray.from_arrays(owners, pa.array([f.label for f in files])).cast(pa.string())
        group.prepared = self.loader.prepare(checked.rows.append_column(SOURCE_COLUMN, labels), None)
        return group
