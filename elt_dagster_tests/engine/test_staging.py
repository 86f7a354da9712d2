"""Staging files: rewinding a file read again, pruning old run folders, and a full disk."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow as pa
import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.staging import (
    KEEP_RUN_DIRS,
    SOURCE_COLUMN,
    SOURCE_ROW_COLUMN,
    STAGING_FILE,
    RunStaging,
    StagingSpaceError,
    StagingWriter,
    free_bytes,
    prune_run_dirs,
    run_dir,
)
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.pipelines import ITEMS_YAML


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


def staging_on_a_full_disk(folder: Path) -> None:
    """The run's staging CSV as a link to /dev/full: every write to it fails with ENOSPC, as on a full disk."""
    folder.mkdir(parents=True)
    (folder / STAGING_FILE).symlink_to("/dev/full")


def test_dev_full_fails_a_write_with_enospc(tmp_path: Path) -> None:
    staging_on_a_full_disk(tmp_path / "run")
    with pytest.raises(OSError) as raised, (tmp_path / "run" / STAGING_FILE).open("wb") as full:
        full.write(b"x")
        full.flush()
    assert raised.value.errno == errno.ENOSPC


def test_a_full_disk_is_one_line_naming_the_folder_and_the_failed_run_leaves_no_files(tmp_path: Path) -> None:
    folder = run_dir("p", "r1")
    staging_on_a_full_disk(folder)
    (folder / "api_0.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(StagingSpaceError) as raised, RunStaging(folder) as staging:
        staging.reserve(8_000_000)
        with StagingWriter(folder, ["id"]) as writer:
            writer.write_rows(pa.table({"id": ["1"], SOURCE_COLUMN: ["a"], SOURCE_ROW_COLUMN: pa.array([1])}))
    message = str(raised.value)
    assert "\n" not in message and raised.value.__suppress_context__
    assert f"the disk of the staging folder {folder} is full (No space left on device)" in message
    assert "this run needed about 8.0 MB" in message and "MB free" in message and "ELT_STATE_DIR" in message
    assert not folder.exists(), "the failed run's staging files are removed"


def test_any_failure_removes_the_run_folder_and_keeps_its_error(tmp_path: Path) -> None:
    folder = run_dir("p", "r1")
    with pytest.raises(ValueError, match="bad input"), RunStaging(folder), StagingWriter(folder, ["id"]):
        raise ValueError("bad input")
    assert not folder.exists()
    with RunStaging(folder):  # a run that succeeds keeps its files for inspection
        StagingWriter(folder, ["id"]).__exit__()
    assert (folder / STAGING_FILE).exists()


def test_a_run_bigger_than_the_free_space_is_refused_before_it_reads(tmp_path: Path) -> None:
    folder = run_dir("p", "r1")
    free = free_bytes(folder)
    RunStaging(folder).reserve(free // 2)
    with pytest.raises(StagingSpaceError) as raised:
        RunStaging(folder).reserve(free + 10**9)
    assert str(raised.value).startswith(f"not enough disk space for the staging files in {folder}: this run needs")
    assert "MB free" in str(raised.value)


def test_a_run_staging_onto_a_full_disk_fails_in_one_line_then_the_next_run_loads(
    tmp_path: Path, make_pipeline, db_schema: str, database_url: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    config = make_pipeline(ITEMS_YAML)
    staging_on_a_full_disk(run_dir(config.name, "full"))
    with pytest.raises(StagingSpaceError, match=r"the disk of the staging folder .*full\b.* needed"):
        run_pipeline(config, run_id="full")
    assert not run_dir(config.name, "full").exists()
    assert fetch(database_url, "SELECT to_regclass(%s)", f"{db_schema}.items") == [(None,)]
    assert run_pipeline(config).inserted == 2


def test_sources_bigger_than_the_free_space_are_refused_before_a_row_is_read(
    tmp_path: Path, make_pipeline, db_schema: str, database_url: str
) -> None:
    # sparse, so it takes no room; gzip counts five-fold; all NULs, so reading it (without the check) fails at once
    huge = tmp_path / "data" / "a.csv.gz"
    huge.parent.mkdir()
    huge.touch()
    try:
        os.truncate(huge, free_bytes(tmp_path) // 5 + 10**9)
    except OSError as exc:
        pytest.skip(f"no sparse file of that size here: {exc}")
    config = make_pipeline(ITEMS_YAML + "  strict_mode: true\n")
    with pytest.raises(StagingSpaceError, match=r"not enough disk space for the staging files in .* needs about"):
        run_pipeline(config, run_id="big")
    assert not run_dir(config.name, "big").exists()
    assert fetch(database_url, "SELECT to_regclass(%s)", f"{db_schema}.items") == [(None,)]
