"""A run's staging folder (`.elt/runs/<pipeline>/<run id>`): the extracted rows as one CSV and every rejected
record as JSON Lines, kept for the last few runs for inspection.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from elt_dagster.engine.db import state_dir

SOURCE_COLUMN = "_elt_source"
SOURCE_ROW_COLUMN = "_elt_source_row"
STAGING_FILE = "extracted.csv"
REJECTS_FILE = "rejects.jsonl"
FIRST_REJECTS = 5
KEEP_RUN_DIRS = 3


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
