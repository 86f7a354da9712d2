"""One pipeline run, stage by stage: the same functions serve the Dagster assets, the CLI and the benchmark."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .config import LoadedConfig
from .db import connect, state_dir, target_database_url
from .extract import ExtractResult, extract, list_source_files
from .load import LoadResult, load
from .validate import ValidateResult, validate

KEEP_RUN_DIRS = 3


def run_dir(pipeline: str, run_id: str) -> Path:
    """The folder for one run's staging files: `.elt/runs/<pipeline>/<run_id>`."""
    return state_dir() / "runs" / pipeline / run_id


def prune_run_dirs(pipeline: str, keep: int = KEEP_RUN_DIRS) -> None:
    """Delete all but the newest `keep` run folders of a pipeline (staging files can be large)."""
    root = state_dir() / "runs" / pipeline
    if not root.is_dir():
        return
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def run_extract(loaded: LoadedConfig, run_id: str) -> ExtractResult:
    """Extract every source file of the pipeline into this run's staging CSV."""
    files, skipped = list_source_files(loaded)
    folder = run_dir(loaded.name, run_id)
    result = extract(loaded, files, folder)
    result.skipped_files = skipped
    prune_run_dirs(loaded.name)
    return result


def run_validate(loaded: LoadedConfig, staging_path: Path) -> ValidateResult:
    """Validate a staging CSV into the validated rows file beside it."""
    return validate(loaded, staging_path, staging_path.parent)


def run_load(
    loaded: LoadedConfig,
    validated: ValidateResult,
    reject_paths: list[Path],
    run_id: str,
    database_url: str | None = None,
) -> LoadResult:
    """Load the validated rows and all rejects into the pipeline's target."""
    url = target_database_url(loaded.config.target, database_url)
    with connect(url) as conn:
        return load(conn, loaded.config.target, validated.column_types, validated.validated_path, reject_paths, run_id)


@dataclass
class RunSummary:
    extracted: ExtractResult
    validated: ValidateResult
    loaded: LoadResult
    seconds: float


def run_pipeline(loaded: LoadedConfig, run_id: str | None = None, database_url: str | None = None) -> RunSummary:
    """All three stages in one call (the CLI and the benchmark use this; the assets call the stages one by one)."""
    started = time.perf_counter()
    run_id = run_id or uuid.uuid4().hex
    extracted = run_extract(loaded, run_id)
    validated = run_validate(loaded, extracted.staging_path)
    loaded_result = run_load(loaded, validated, [extracted.rejects_path, validated.rejects_path], run_id, database_url)
    return RunSummary(extracted, validated, loaded_result, time.perf_counter() - started)
