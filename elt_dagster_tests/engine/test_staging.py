"""Staging files: rewinding a file read again, and pruning old run folders."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from elt_dagster.engine.staging import (
    KEEP_RUN_DIRS,
    SOURCE_COLUMN,
    SOURCE_ROW_COLUMN,
    StagingWriter,
    prune_run_dirs,
    run_dir,
)


def test_rewind_forgets_what_was_written_since_the_mark(tmp_path: Path) -> None:
    with StagingWriter(tmp_path, ["id"]) as staging:
        table = pa.table({"id": ["1"], SOURCE_COLUMN: ["a.csv"], SOURCE_ROW_COLUMN: pa.array([1], pa.int64())})
        staging.write_rows(table)
        staging.write_rejects([{"reason": "kept"}])
        mark = staging.mark()
        staging.write_rows(table)
        staging.write_rejects([{"reason": "forgotten"}])
        staging.rewind(mark)
    assert staging.staging_path.read_text().splitlines()[1:] == ['"1","a.csv",1']
    assert staging.first_rejects == [{"reason": "kept"}]
    assert "forgotten" not in staging.rejects_path.read_text()


def test_only_the_newest_run_folders_are_kept() -> None:
    folders = [run_dir("p", f"run{i}") for i in range(KEEP_RUN_DIRS + 2)]
    for age, folder in enumerate(reversed(folders)):
        folder.mkdir(parents=True)
        os.utime(folder, (1_000_000 - age, 1_000_000 - age))
    prune_run_dirs("p")
    assert sorted(p.name for p in folders[0].parent.iterdir()) == [f.name for f in folders[-KEEP_RUN_DIRS:]]
