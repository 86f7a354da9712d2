"""A dry run (`elt-dagster check`): extract and validate every source as a run would, loading nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elt_dagster.engine.config import LoadedConfig, column_rules, key_columns, order_column
from elt_dagster.engine.row_counts import RowCounts
from elt_dagster.engine.sources.api.spool import spool_api_sources
from elt_dagster.engine.sources.files.extract import FileReport, list_source_files, new_mapper, read_file_with_fallback
from elt_dagster.engine.sources.objects.store import list_source_objects, spool_objects
from elt_dagster.engine.staging import RunStaging, StagingWriter
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import pipeline_column_types


@dataclass
class CheckReport(RowCounts):
    """A dry run: what validation would do to every source file, without touching the database."""

    column_types: dict[str, str]
    files: list[FileReport]
    rows_valid: int = 0
    invalid: int = 0
    first_rows: list[dict[str, Any]] = field(default_factory=list)
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
    staging_path: Path | None = None
    rejects_path: Path | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.column_types)


def check_pipeline(loaded: LoadedConfig, staging_dir: Path, keep_rows: int = 10) -> CheckReport:
    """Extract and validate every source (no database); keep the first `keep_rows` standardised rows."""
    files, _ = list_source_files(loaded)
    files += [api.file for api in spool_api_sources(loaded, staging_dir, {}) if api.stats.records]
    files += [spooled for spooled, _ in spool_objects(list_source_objects(loaded)[0], staging_dir)]
    mapper = new_mapper(loaded, files)
    report = CheckReport(pipeline_column_types(loaded, mapper.columns, mapper.found_types), [])
    target = loaded.config.target
    key = key_columns(target, mapper.columns) if target.keyed else []
    order_column(target, mapper.columns)
    with RunStaging(staging_dir), StagingWriter(staging_dir, mapper.columns) as staging:
        for source_file in files:
            checker = BatchChecker(
                report.column_types, key, staging, keep_rows - len(report.first_rows), column_rules(loaded)
            )
            report.files.append(read_file_with_fallback(source_file, mapper, staging, checker.count))
            report.rows_valid += checker.tally.valid
            report.invalid += checker.tally.invalid
            report.first_rows += checker.tally.first_rows
        report.first_rejects = list(staging.first_rejects)
        report.staging_path, report.rejects_path = staging.staging_path, staging.rejects_path
    return report
