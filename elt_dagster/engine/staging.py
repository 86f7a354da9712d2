"""A run's staging folder (`.elt/runs/<pipeline>/<run id>`): the extracted rows as one CSV and every rejected
record as JSON Lines, kept for the last few runs for inspection. A failed run's folder is removed.
"""

from __future__ import annotations

import errno
import json
import shutil
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.db import STATE_DIR_ENV, state_dir
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import SOURCE_COLUMN, SOURCE_ROW_COLUMN

STAGING_FILE = "extracted.csv"
REJECTS_FILE = "rejects.jsonl"
FIRST_REJECTS = 5
KEEP_RUN_DIRS = 3
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StagingSpaceError(PipelineError):
    """The disk of the staging folder has too little free space for this run."""


def run_dir(pipeline: str, run_id: str) -> Path:
    """The folder for one run's staging files: `.elt/runs/<pipeline>/<run_id>`."""
    return state_dir() / "runs" / pipeline / run_id


def prune_run_dirs(pipeline: str, keep: int = KEEP_RUN_DIRS) -> None:
    """Delete all but the newest `keep` run folders of a pipeline (staging files can be large)."""
    root = state_dir() / "runs" / pipeline
    if root.is_dir():
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in folders[keep:]:
            shutil.rmtree(old, ignore_errors=True)


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds `folder` (or would hold it: its nearest existing parent)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _folder_bytes(folder: Path) -> int:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


class RunStaging:
    """A run's staging folder, guarded: the free space is checked before the sources are read (`reserve`), and
    when the run fails the folder is removed, so a failed run's files never fill the disk for the next one. A full
    disk (ENOSPC, EDQUOT) becomes a StagingSpaceError naming the folder, what the run needed and what is free.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.needed = 0

    def reserve(self, needed: int) -> None:
        """Refuse the run before it reads anything when the disk has less than `needed` bytes free."""
        self.needed = needed
        free = free_bytes(self.folder)
        if free < needed:
            raise StagingSpaceError(
                f"not enough disk space for the staging files in {self.folder}: this run needs about "
                f"{_megabytes(needed)} (the size of its sources, gzip counted five-fold), {_megabytes(free)} free; "
                f"{_REMEDY}"
            )

    def __enter__(self) -> RunStaging:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            return
        written = _folder_bytes(self.folder) if self.folder.is_dir() else 0
        shutil.rmtree(self.folder, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            needed = f"about {_megabytes(self.needed)}" if self.needed > written else f"over {_megabytes(written)}"
            raise StagingSpaceError(
                f"the disk of the staging folder {self.folder} is full ({exc.strerror}): this run needed {needed}, "
                f"{_megabytes(free_bytes(self.folder))} free once its staging files were removed; {_REMEDY}"
            ) from None


_REMEDY = f"free space on that disk, or set {STATE_DIR_ENV} to a folder on a larger one"


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
        self._open = ExitStack()  # closes every file even when one fails (a full disk fails the last flush)
        self._rows = self._open.enter_context(self.staging_path.open("wb"))
        self._rejects = self._open.enter_context(self.rejects_path.open("w", encoding="utf-8"))
        self._csv = pacsv.CSVWriter(self._rows, self.schema)
        self._open.callback(self._csv.close)

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._open.close()

    def write_rows(self, table: pa.Table) -> None:
        """Stage a conformed batch; its typed columns (a Parquet file's) are written as their text."""
        if table.num_rows:
            self._csv.write_table(table if table.schema == self.schema else table.cast(self.schema))

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
